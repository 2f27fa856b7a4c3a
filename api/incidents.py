"""Incidents: open one, list them, and one with its evidence, candidates and plate sightings (an
audited read), and its timeline of events."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy import select

from api.auth import OPENERS, READERS, allow
from api.deps import RuntimeDep, viewed
from api.guards import SafeJSONRoute
from api.params import MAX_BIG_ID, Id
from api.schemas import EventPublic, IncidentDetail, IncidentPublic, PublicUpdated
from api.views import candidate_public, incident_exists, incident_public, sighting_public
from evidence.audit import Actor, audit_read
from evidence.db.tables import Evidence, Incident, PlateSightingRow
from evidence.incidents import (MAX_LISTED, Status, assign_incident, close_incident, find_incidents, open_incident,
                                reopen_incident)
from evidence.events import event_view, events_after
from evidence.notify.public import pass_to_investigators, post_public_update
from evidence.runtime import Runtime
from evidence.reports import evidence_candidates, evidence_view

__all__ = ["router"]

router = APIRouter(route_class=SafeJSONRoute, tags=["incidents"])


class IncidentIn(BaseModel):
    reference: str = Field(min_length=1, max_length=64, description="the control room's incident number")
    title: str = Field("", max_length=200)
    incident_type: str | None = Field(None, min_length=1, max_length=64,
                                      description="e.g. 'antisocial behaviour'; subscriptions can filter on it")
    watchlists: list[Annotated[str, Field(min_length=1, max_length=100)]] | None = Field(
        None, min_length=1, max_length=20, description="the watchlists its footage is matched against, by name "
        "(default: EVIDENCE_DEFAULT_WATCHLISTS); each must be live (409 otherwise)")


class PublicUpdateIn(BaseModel):
    text: str = Field(min_length=1, max_length=280, description="plain words for the public, e.g. 'An officer is "
                                                                 "on the way'")


class PassIn(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


@router.post("/incidents", status_code=201, summary="Open an incident", response_model=IncidentPublic,
             responses={404: {"description": "No such watchlist"}, 409: {"description": "A watchlist has expired"}},
             description="Roles: control_room, admin. An existing reference returns that incident (with "
                         "`watchlists`, its lists are replaced).")
def create_incident(body: IncidentIn, rt: RuntimeDep, actor: Annotated[Actor, Depends(allow(*OPENERS))]) -> IncidentPublic:
    with rt.sessions.begin() as s:
        incident = open_incident(s, body.reference, actor, body.title or "", body.incident_type or "", body.watchlists)
        return incident_public(incident)


@router.get("/incidents", summary="List or search incidents, newest first", response_model=list[IncidentPublic],
            description="Roles: control_room, investigator, admin. `q`: words in the reference or the title (any "
                        "case); `status`: open, closed or all; `assigned_to`: a user's name, or empty for nobody's.")
def list_incidents(rt: RuntimeDep, actor: Annotated[Actor, Depends(allow(*READERS))],
                   q: Annotated[str, Query(max_length=200)] = "", status: Status = "all",
                   assigned_to: Annotated[str | None, Query(max_length=100)] = None,
                   limit: Annotated[int, Query(ge=1, le=MAX_LISTED)] = 200) -> list[IncidentPublic]:
    with rt.sessions() as s:
        found = [incident_public(i) for i in find_incidents(s, q, status, assigned_to, limit)]
    if q or assigned_to is not None:  # a search is audited; the plain list is not (it is the page everyone opens)
        audit_read(rt.sessions, actor, "incidents.search", "incidents",
                   detail={"q": q, "status": status, "assigned_to": assigned_to, "found": len(found)})
    return found


class CloseIn(BaseModel):
    reason: str = Field(min_length=1, max_length=2000, description="why (audited, on the chronology)")


class AssignIn(BaseModel):
    to: str | None = Field(None, min_length=1, max_length=100, description="a member of staff by name; null: nobody")
    was: str | None = Field(None, max_length=100, description="who you saw it assigned to (\"\" for nobody): "
                                                               "409 if it has changed since")


@router.post("/incidents/{incident_id}/close", summary="Close an incident", response_model=IncidentPublic,
             responses={404: {"description": "No such incident"}, 409: {"description": "Already closed"}},
             description="Roles: control_room, investigator, admin. Its upload links stop working now. Audited "
                         "with the reason.")
def close(incident_id: Id, body: CloseIn, rt: RuntimeDep,
          actor: Annotated[Actor, Depends(allow(*READERS))]) -> IncidentPublic:
    close_incident(rt, incident_id, actor, body.reason)
    return _public(rt, incident_id)


@router.post("/incidents/{incident_id}/reopen", summary="Reopen a closed incident", response_model=IncidentPublic,
             responses={404: {"description": "No such incident"}, 409: {"description": "Open already"}},
             description="Roles: control_room, investigator, admin. Its old upload links stay ended. Audited.")
def reopen(incident_id: Id, body: CloseIn, rt: RuntimeDep,
           actor: Annotated[Actor, Depends(allow(*READERS))]) -> IncidentPublic:
    reopen_incident(rt, incident_id, actor, body.reason)
    return _public(rt, incident_id)


@router.post("/incidents/{incident_id}/assign", summary="Give an incident to a member of staff",
             response_model=IncidentPublic,
             responses={404: {"description": "No such incident"}, 409: {"description": "Changed meanwhile"},
                        422: {"description": "Not a member of staff"}},
             description="Roles: control_room, investigator, admin. Audited.")
def assign(incident_id: Id, body: AssignIn, rt: RuntimeDep,
           actor: Annotated[Actor, Depends(allow(*READERS))]) -> IncidentPublic:
    assign_incident(rt, incident_id, actor, body.to, body.was)
    return _public(rt, incident_id)


def _public(rt: Runtime, incident_id: int) -> IncidentPublic:
    with rt.sessions() as s:
        incident = s.get(Incident, incident_id)
        assert incident is not None  # incidents are never deleted
        return incident_public(incident)


@router.get("/incidents/{incident_id}", response_model=IncidentDetail,
            summary="An incident with its evidence, candidates and plates (audited read)",
            description="Roles: control_room, investigator, admin. Candidates are potential matches for "
                        "review, never identifications; plate sightings are reads to verify against the crop.")
def get_incident(incident_id: Id, rt: RuntimeDep, actor: Annotated[Actor, Depends(allow(*READERS))]) -> IncidentDetail:
    with viewed(rt, actor, Incident, incident_id, "incident", "incident.view") as (s, incident, detail):
        evidence = list(s.scalars(select(Evidence).where(Evidence.incident_id == incident_id).order_by(Evidence.id)))
        out = IncidentDetail(**incident_public(incident, rt.settings).model_dump(), evidence=[
            {**evidence_view(ev), "candidates": [candidate_public(c) for c in evidence_candidates(s, ev.id)],
             "plates": [sighting_public(p) for p in s.scalars(
                 select(PlateSightingRow).where(PlateSightingRow.evidence_id == ev.id)
                 .order_by(PlateSightingRow.first_t_s))]}
            for ev in evidence])
        detail["evidence"] = [ev.id for ev in evidence]
    return out


@router.get("/incidents/{incident_id}/timeline", summary="The incident's events in order",
            response_model=list[EventPublic],
            description="Roles: control_room, investigator, admin. Evidence received, processing progress, "
                        "candidates, plate sightings, hotlist hits and reviews; `after` pages on (event id).")
def timeline(incident_id: Id, rt: RuntimeDep, actor: Annotated[Actor, Depends(allow(*READERS))],
             after: Annotated[int, Query(ge=0, le=MAX_BIG_ID)] = 0) -> list[dict[str, Any]]:
    incident_exists(rt, incident_id)
    with rt.sessions() as s:
        events = [event_view(e) for e in events_after(s, incident_id, after)]
    audit_read(rt.sessions, actor, "incident.timeline", f"incident:{incident_id}", detail={"after": after})
    return events


@router.post("/incidents/{incident_id}/public-updates", status_code=201, summary="Post an update for the public",
             response_model=PublicUpdated, responses={404: {"description": "No such incident"}},
             description="Roles: control_room, admin. Shown on the status page of every witness who sent a video "
                         "to the incident, and emailed to those who asked. Audited.")
def public_update(incident_id: Id, body: PublicUpdateIn, rt: RuntimeDep,
                  actor: Annotated[Actor, Depends(allow(*OPENERS))]) -> PublicUpdated:
    text = post_public_update(rt, incident_id, actor, body.text)
    return PublicUpdated(incident_id=incident_id, text=text)


@router.post("/incidents/{incident_id}/pass", status_code=201, summary="Pass the incident to investigators",
             response_model=PublicUpdated, responses={404: {"description": "No such incident"}},
             description="Roles: control_room, admin. The last step on its witnesses' status pages. Audited "
                         "with the reason.")
def pass_on(incident_id: Id, body: PassIn, rt: RuntimeDep,
            actor: Annotated[Actor, Depends(allow(*OPENERS))]) -> PublicUpdated:
    pass_to_investigators(rt, incident_id, actor, body.reason)
    return PublicUpdated(incident_id=incident_id, text="passed to investigators")
