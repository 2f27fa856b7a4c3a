"""The incident's live feed (Server-Sent Events, ``api.sse``): events are written in the same
transaction as what they report and read in id order, so the feed never shows what was rolled back
and never misses what was committed."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse

from api.auth import READERS, allow, still_allowed
from api.deps import RuntimeDep
from api.guards import SafeJSONRoute
from api.views import incident_exists
from api.params import MAX_BIG_ID, SEEN_FOR, Id, SeenWith
from api.sse import event_stream, last_event_id
from evidence.audit import Actor, audit_read, seen_with
from evidence.events import event_view, events_after

__all__ = ["router"]

router = APIRouter(route_class=SafeJSONRoute, tags=["incidents"])

@router.get("/incidents/{incident_id}/events", summary="Live feed of the incident's events (Server-Sent Events)",
            response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}}, "description": "the events, as they happen"}},
            description="Roles: control_room, investigator, admin. Each event's SSE id is its event id: "
                        "reconnect with `Last-Event-ID` (or `?after=`) to resume exactly after it. A new "
                        "candidate is on the stream within a fraction of a second of being stored. `max_s` "
                        "ends the stream after that many seconds. `seen`: the audit entry of the page showing it "
                        "(the board: watching is part of that view, audited once).")
def live(incident_id: Id, request: Request, rt: RuntimeDep, actor: Annotated[Actor, Depends(allow(*READERS))],
         last_event_id_header: Annotated[str | None, Header(alias="last-event-id", max_length=20)] = None,
         after: Annotated[int, Query(ge=0, le=MAX_BIG_ID)] = 0,
         max_s: Annotated[float | None, Query(gt=0, le=24 * 3600, allow_inf_nan=False)] = None,
         seen: SeenWith = None) -> StreamingResponse:
    incident_exists(rt, incident_id)
    start = last_event_id(last_event_id_header, after)
    if seen is None or not seen_with(rt.sessions, actor, seen, f"feed:incident:{incident_id}", SEEN_FOR):
        audit_read(rt.sessions, actor, "incident.watch", f"incident:{incident_id}", detail={"after": start})

    def fetch(last: int) -> list[dict[str, Any]]:
        with rt.sessions() as s:
            return [event_view(e) for e in events_after(s, incident_id, last)]

    return event_stream(request, fetch, start, max_s, still_allowed(request, READERS),
                        match=lambda e: e.get("incident_id") == incident_id)
