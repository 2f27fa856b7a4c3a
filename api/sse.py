"""Server-Sent Events from a table read in id order: the incident's feed and the alert desk's.
Rows are written in the same transaction as what they report and read in id order, so a stream
never shows what was rolled back and never misses what was committed (write transactions commit
in id order). A route of this process that commits wakes the streams at once; rows written by
other processes (workers) are found by the poll."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from evidence.errors import InvalidRequest

__all__ = ["POLL_S", "Wake", "event_stream", "last_event_id"]

POLL_S = 0.2  # rows written by other processes are seen within this
KEEP_ALIVE_S = 15


class Wake:
    """Wakes this process's streams at once when a route of this process has committed an event."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.waiters: set[asyncio.Event] = set()

    def notify(self) -> None:  # from any thread
        if self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self._set_all)

    def _set_all(self) -> None:
        for e in list(self.waiters):
            e.set()


def last_event_id(value: str | None, after: int) -> int:
    """The SSE ``Last-Event-ID`` header: an event id (ASCII digits) or absent."""
    if value is None or value == "":
        return after
    if not (value.isascii() and value.isdigit() and len(value) <= 18):
        raise InvalidRequest("Last-Event-ID must be the id of an event (digits)")
    return int(value)


def event_stream(request: Request, fetch: Callable[[int], list[dict[str, Any]]], start: int,
                 max_s: float | None) -> StreamingResponse:
    """Stream what ``fetch(after_id)`` returns (dicts with ``id`` and ``kind``), from ``start``."""
    wake: Wake = request.app.state.wake

    async def stream() -> AsyncIterator[str]:
        last, loop = start, asyncio.get_running_loop()
        began = idle_since = loop.time()
        wake.loop, woken = loop, asyncio.Event()
        wake.waiters.add(woken)
        try:
            yield "retry: 1000\n\n"
            while max_s is None or loop.time() - began < max_s:
                if await request.is_disconnected():
                    return
                woken.clear()
                for e in await run_in_threadpool(fetch, last):
                    last = e["id"]
                    idle_since = loop.time()
                    yield f"id: {e['id']}\nevent: {e['kind']}\ndata: {json.dumps(e)}\n\n"
                if loop.time() - idle_since > KEEP_ALIVE_S:
                    idle_since = loop.time()
                    yield ": keep-alive\n\n"
                try:
                    await asyncio.wait_for(woken.wait(), POLL_S)
                except TimeoutError:
                    pass
        finally:
            wake.waiters.discard(woken)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
