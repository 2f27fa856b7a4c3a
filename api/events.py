"""The incident's live feed (Server-Sent Events) and what wakes it. Events are written in the same
transaction as what they report and read in id order, so the feed never shows what was rolled back
and never misses what was committed (write transactions commit in id order)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from api.auth import READERS, allow
from api.deps import RuntimeDep
from api.guards import SafeJSONRoute
from api.views import incident_exists
from api.params import MAX_BIG_ID, Id
from evidence.audit import Actor, audit_read
from evidence.errors import InvalidRequest
from evidence.events import event_view, events_after

__all__ = ["Wake", "router"]

router = APIRouter(route_class=SafeJSONRoute, tags=["incidents"])
POLL_S = 0.2  # events written by other processes (workers) are seen within this
KEEP_ALIVE_S = 15


class Wake:
    """Wakes this process's live-feed streams at once when a route of this process has committed
    an event (an ANPR hit, a review); the poll finds the others."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.waiters: set[asyncio.Event] = set()

    def notify(self) -> None:  # from any thread
        if self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self._set_all)

    def _set_all(self) -> None:
        for e in list(self.waiters):
            e.set()


def _last_event_id(value: str | None, after: int) -> int:
    """The SSE ``Last-Event-ID`` header: an event id (ASCII digits) or absent."""
    if value is None or value == "":
        return after
    if not (value.isascii() and value.isdigit() and len(value) <= 18):
        raise InvalidRequest("Last-Event-ID must be the id of an event (digits)")
    return int(value)


@router.get("/incidents/{incident_id}/events", summary="Live feed of the incident's events (Server-Sent Events)",
            response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}}, "description": "the events, as they happen"}},
            description="Roles: control_room, investigator, admin. Each event's SSE id is its event id: "
                        "reconnect with `Last-Event-ID` (or `?after=`) to resume exactly after it. A new "
                        "candidate is on the stream within a fraction of a second of being stored. `max_s` "
                        "ends the stream after that many seconds.")
def live(incident_id: Id, request: Request, rt: RuntimeDep, actor: Annotated[Actor, Depends(allow(*READERS))],
         last_event_id: Annotated[str | None, Header(max_length=20)] = None,
         after: Annotated[int, Query(ge=0, le=MAX_BIG_ID)] = 0,
         max_s: Annotated[float | None, Query(gt=0, le=24 * 3600, allow_inf_nan=False)] = None) -> StreamingResponse:
    incident_exists(rt, incident_id)
    start = _last_event_id(last_event_id, after)
    audit_read(rt.sessions, actor, "incident.watch", f"incident:{incident_id}", detail={"after": start})
    wake: Wake = request.app.state.wake

    def fetch(last: int) -> list[dict[str, Any]]:
        with rt.sessions() as s:
            return [event_view(e) for e in events_after(s, incident_id, last)]

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
