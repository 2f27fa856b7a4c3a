"""Model objects that must not be used from two threads at once, lent one caller at a time.

dlib's detector and shape predictor (and OpenCV's DNN face detector) give wrong, varying results
when one object is used from two threads at once (measured: 56 vs 57-60 detections on the same
frames), so each use borrows an object of its own: as many exist as were ever in use at the same
time, at most ``max_in_use`` (further callers wait). Objects per *thread* would grow with every
thread that ever ran a search (a web server's thread pool has 40): 265 MB after 300 face
searches, never given back (benchmarks/soak.py)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["Pooled"]


class Pooled:
    """Model objects lent one caller at a time; made on demand, at most ``max_in_use``."""

    def __init__(self, max_in_use: int | None = None) -> None:
        self.max_in_use = max_in_use or max(2, os.cpu_count() or 2)
        self._free: list[Any] = []
        self._made = 0
        self._ready = threading.Condition()

    def _build(self) -> Any:
        raise NotImplementedError

    @contextmanager
    def borrowed(self) -> Iterator[Any]:
        with self._ready:
            while not self._free and self._made >= self.max_in_use:
                self._ready.wait()
            model = self._free.pop() if self._free else None
            if model is None:
                self._made += 1
        if model is None:
            try:
                model = self._build()
            except BaseException:
                with self._ready:
                    self._made -= 1
                    self._ready.notify()
                raise
        try:
            yield model
        finally:
            with self._ready:
                self._free.append(model)
                self._ready.notify()

    def load(self) -> None:
        """Make one now (a worker does it before it forks)."""
        with self.borrowed():
            pass
