"""Server-Sent Events from a table read in id order: the incident's feed and the alert desk's.
Rows are written in the same transaction as what they report and read in id order, so a stream
never shows what was rolled back and never misses what was committed (write transactions commit
in id order). A route of this process that commits wakes the streams at once; rows written by
other processes (workers) are found by the poll."""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from evidence.errors import InvalidRequest

__all__ = ["POLL_S", "Wake", "event_stream", "last_event_id"]

POLL_S = 0.2  # rows written by other processes are seen within this
PUSHED_MAX = 1000  # pushed events waiting for one stream; past it, the stream reads the table
KEEP_ALIVE_S = 15
RECHECK_S = 2.0  # an open stream asks again whether its credential holds (access taken away ends within this)
ENDED = 'event: access_ended\ndata: {"message": "your access has ended: sign in again"}\n\n'


@dataclass(eq=False)
class _Listener:
    woken: asyncio.Event
    match: Callable[[dict[str, Any]], bool] | None
    pushed: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=PUSHED_MAX))
    poll: bool = False


class Wake:
    """This process's streams: ``notify`` (a route committed something: read the table now) and
    ``publish`` (committed events pushed as they are: a stream that takes them sends them at once,
    without reading the table; ``evidence.notify.bus``)."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.listeners: set[_Listener] = set()

    def notify(self) -> None:  # from any thread
        if self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self._poll_all)

    def publish(self, views: list[dict[str, Any]]) -> None:  # from any thread
        if self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self._push, views)

    def _poll_all(self) -> None:
        for listener in list(self.listeners):
            listener.poll = True
            listener.woken.set()

    def _push(self, views: list[dict[str, Any]]) -> None:
        for listener in list(self.listeners):
            if listener.match is None:
                listener.poll = True
                listener.woken.set()
                continue
            mine = [v for v in views if listener.match(v)]
            if len(listener.pushed) + len(mine) > PUSHED_MAX:  # a stalled client: read the table instead
                listener.pushed.clear()
                listener.poll = True
                mine = []
            listener.pushed.extend(mine)
            if mine or listener.poll:
                listener.woken.set()


def last_event_id(value: str | None, after: int) -> int:
    """The SSE ``Last-Event-ID`` header: an event id (ASCII digits) or absent."""
    if value is None or value == "":
        return after
    if not (value.isascii() and value.isdigit() and len(value) <= 18):
        raise InvalidRequest("Last-Event-ID must be the id of an event (digits)")
    return int(value)


def event_stream(request: Request, fetch: Callable[[int], list[dict[str, Any]]], start: int,
                 max_s: float | None, allowed: Callable[[], bool],
                 match: Callable[[dict[str, Any]], bool] | None = None) -> StreamingResponse:
    """Stream what ``fetch(after_id)`` returns (dicts with ``id`` and ``kind``), from ``start``.
    Events pushed to this process that ``match`` are sent as they arrive; the table is still read
    (on ``notify`` and every ``POLL_S``), and what was pushed is not sent twice. A pushed event
    goes out without an SSE ``id`` (its id is in its data): the id a client resumes from is only
    ever the table read's cursor, so an earlier event another process committed and the table
    read has not reached yet is not skipped on reconnect (it may repeat a pushed one: same id).
    ``allowed()`` is asked every ``RECHECK_S``: once the credential that opened the stream no longer
    holds (a key revoked, an account disabled, a session ended), an ``access_ended`` event is sent
    and the stream closes — access taken away ends open streams too."""
    wake: Wake = request.app.state.wake

    def line(e: dict[str, Any], with_id: bool = True) -> str:
        head = f"id: {e['id']}\n" if with_id else ""
        return f"{head}event: {e['kind']}\ndata: {json.dumps(e)}\n\n"

    async def stream() -> AsyncIterator[str]:
        last, loop = start, asyncio.get_running_loop()
        began = idle_since = polled = checked = loop.time()
        wake.loop, me = loop, _Listener(asyncio.Event(), match, poll=True)
        wake.listeners.add(me)
        sent: set[int] = set()  # pushed ahead of the table's cursor ``last``
        try:
            yield "retry: 1000\n\n"
            while max_s is None or loop.time() - began < max_s:
                if await request.is_disconnected() or request.app.state.stopping.is_set():
                    return  # (the server is stopping: the stream ends and the client reconnects elsewhere)
                if loop.time() - checked >= RECHECK_S:
                    checked = loop.time()
                    if not await run_in_threadpool(allowed):
                        yield ENDED
                        return
                me.woken.clear()
                while me.pushed:
                    e = me.pushed.popleft()
                    if e["id"] > last and e["id"] not in sent:
                        sent.add(e["id"])
                        idle_since = loop.time()
                        yield line({k: v for k, v in e.items() if k != "incident_id"}, with_id=False)
                if me.poll or loop.time() - polled >= POLL_S:
                    me.poll, polled = False, loop.time()
                    passed = False  # the cursor passed events sent when pushed
                    for e in await run_in_threadpool(fetch, last):
                        last = e["id"]
                        if e["id"] in sent:
                            passed = True
                        else:
                            passed = False
                            idle_since = loop.time()
                            yield line(e)
                    if passed:
                        yield f"id: {last}\n\n"  # resume point only: no event is dispatched
                    sent = {i for i in sent if i > last}
                if loop.time() - idle_since > KEEP_ALIVE_S:
                    idle_since = loop.time()
                    yield ": keep-alive\n\n"
                left = POLL_S - (loop.time() - polled)
                if max_s is not None:
                    left = min(left, max_s - (loop.time() - began))
                try:
                    await asyncio.wait_for(me.woken.wait(), max(0.0, left))
                except TimeoutError:
                    pass
        finally:
            wake.listeners.discard(me)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
