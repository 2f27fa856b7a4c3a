"""The alert desk over HTTP: open alerts across all incidents, their live feed (SSE, resumable
with ``Last-Event-ID``), acknowledgement by a named person, and sending a confirmed match or a
hit on to an officer's device."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from api.auth import OPENERS, READERS, allow, still_allowed
from api.deps import RuntimeDep
from api.guards import SafeJSONRoute
from api.params import MAX_BIG_ID, MAX_ID, Id
from api.schemas import AlertPublic, SentPublic
from api.sse import event_stream, last_event_id
from evidence.alerts import acknowledge, alert_view, alerts_with_incident, desk_events, send_to_officer
from evidence.audit import Actor, audit_read
from evidence.events import event_view

__all__ = ["router"]

router = APIRouter(route_class=SafeJSONRoute, tags=["alerts"])


class AckIn(BaseModel):
    note: str = Field("", max_length=2000, description="what was done, e.g. 'units sent', 'not him: checked'")


class SendIn(BaseModel):
    device_id: int = Field(ge=1, le=MAX_ID, description="an officer device (GET /devices)")
    note: str = Field("", max_length=1000)


@router.get("/alerts", summary="Alerts across all incidents, newest first", response_model=list[AlertPublic],
            description="Roles: control_room, investigator, admin. `state=open` (default): not yet acknowledged.")
def alerts(rt: RuntimeDep, actor: Annotated[Actor, Depends(allow(*READERS))],
           state: Annotated[Literal["open", "all"], Query()] = "open",
           limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[AlertPublic]:
    with rt.sessions() as s:
        return [AlertPublic(**alert_view(a, ref))
                for a, ref in alerts_with_incident(s, open_only=state == "open", limit=limit)]


@router.get("/alerts/events", summary="The alert desk, live (Server-Sent Events)", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}}, "description": "alerts raised, acknowledged, "
                                                                                  "escalated"}},
            description="Roles: control_room, investigator, admin. Every event that raises an alert "
                        "(`candidate`, `anpr.hit`, `evidence.failed`, `subscription.failing`, `anpr.camera_silent`; its `alert_id` in the "
                        "data), and `alert.acknowledged` and `alert.escalated`, across all incidents and none. The "
                        "SSE id is the event id: reconnect with `Last-Event-ID` (or `?after=`) to miss nothing.")
def desk_feed(request: Request, rt: RuntimeDep, actor: Annotated[Actor, Depends(allow(*READERS))],
              last_event: Annotated[str | None, Header(alias="last-event-id", max_length=20)] = None,
              after: Annotated[int, Query(ge=0, le=MAX_BIG_ID)] = 0,
              max_s: Annotated[float | None, Query(gt=0, le=24 * 3600, allow_inf_nan=False)] = None
              ) -> StreamingResponse:
    start = last_event_id(last_event, after)
    audit_read(rt.sessions, actor, "desk.watch", "desk", detail={"after": start})

    def fetch(last: int) -> list[dict[str, Any]]:
        with rt.sessions() as s:
            return [event_view(e) for e in desk_events(s, last)]

    return event_stream(request, fetch, start, max_s, still_allowed(request, READERS))


@router.post("/alerts/{alert_id}/acknowledge", summary="Acknowledge an alert", response_model=AlertPublic,
             responses={404: {"description": "No such alert"}, 409: {"description": "Already acknowledged"}},
             description="Roles: control_room, investigator, admin. The caller is named as the person who "
                         "acknowledged it, with the note; the first acknowledgement wins.")
def ack(alert_id: Id, body: AckIn, rt: RuntimeDep,
        actor: Annotated[Actor, Depends(allow(*READERS))]) -> AlertPublic:
    acknowledge(rt, alert_id, actor, body.note.strip())
    with rt.sessions() as s:
        return AlertPublic(**alert_view(*alerts_with_incident(s, alert_id=alert_id)[0]))


@router.post("/alerts/{alert_id}/send", summary="Send a confirmed match or a hit to an officer's device",
             response_model=SentPublic, responses={404: {"description": "No such alert or device"},
                                                   422: {"description": "Not a confirmed match or a hit"}},
             description="Roles: control_room, admin. The summary, the incident, where, your note and a link to "
                         "the image that expires (`EVIDENCE_SHARE_TTL_MIN`); audited with exactly what was sent.")
def send(alert_id: Id, body: SendIn, request: Request, rt: RuntimeDep,
         actor: Annotated[Actor, Depends(allow(*OPENERS))]) -> SentPublic:
    sent = send_to_officer(rt, alert_id, body.device_id, actor, body.note.strip())
    request.app.state.sweeper.wake()
    return SentPublic(**{k: v for k, v in sent.items() if k != "link_path"})
