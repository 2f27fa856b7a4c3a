"""Ordered parallel map over a stream with bounded look-ahead (dlib and OpenCV release the GIL, so
threads run detection on both cores while ffmpeg decodes in its own process)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

__all__ = ["ordered_map"]

T = TypeVar("T")
R = TypeVar("R")


def ordered_map(fn: Callable[[T], R], items: Iterable[T], workers: int, inflight: int | None = None) -> Iterator[R]:
    """fn over items on ``workers`` threads; results in input order; at most ``inflight`` pending."""
    if workers <= 1:
        yield from map(fn, items)
        return
    limit = inflight or 2 * workers
    pending: deque[Future[R]] = deque()
    with ThreadPoolExecutor(workers, thread_name_prefix="detect") as pool:
        try:
            for item in items:
                pending.append(pool.submit(fn, item))
                if len(pending) >= limit:
                    yield pending.popleft().result()
                while pending and pending[0].done():  # hand over finished work at once (latency)
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for f in pending:
                f.cancel()
