"""Access to ANPR camera reads older than 90 days: a request with its reason and plate query, and
a second named person's decision (the authority role). See ``evidence.anpr_access``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from api.auth import READERS, allow
from api.deps import RuntimeDep
from api.guards import SafeJSONRoute
from api.params import MAX_ID, Id
from api.views import incident_exists
from evidence.anpr_access import access_view, accesses, decide_access, request_access
from evidence.audit import Actor
from evidence.states import Role

__all__ = ["router"]

router = APIRouter(route_class=SafeJSONRoute, tags=["anpr"])
AUTHORITY = (Role.AUTHORITY,)


class AccessIn(BaseModel):
    query: str = Field(min_length=1, max_length=20, description="the plate query it covers (AB12CDE, AB1?CDE, *CDE)")
    reason: str = Field(min_length=1, max_length=2000, description="why the old reads are needed (audited)")
    incident_id: int | None = Field(None, ge=1, le=MAX_ID)


class DecisionIn(BaseModel):
    decision: Literal["approved", "refused"]
    reason: str = Field(min_length=1, max_length=2000)


class AccessPublic(BaseModel):
    id: int
    requested_by: str
    reason: str
    query: str | None
    requested_at: datetime
    state: str = Field(description="pending, approved or refused")
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None
    expires_at: datetime | None = Field(description="an approval works until then")
    incident_id: int | None


@router.post("/anpr/access", status_code=201, summary="Ask for access to camera reads older than 90 days",
             response_model=AccessPublic, responses={404: {"description": "No such incident"}},
             description="Roles: control_room, investigator, admin. A second person with the authority role must "
                         "approve it (POST /anpr/access/{id}/decision); then pass its id as `access` to "
                         "GET /search/plates and the read image routes. Audited.")
def access_request(body: AccessIn, rt: RuntimeDep, actor: Annotated[Actor, Depends(allow(*READERS))]) -> dict[str, Any]:
    if body.incident_id is not None:
        incident_exists(rt, body.incident_id)
    return access_view(request_access(rt, actor, body.query, body.reason, body.incident_id))


@router.get("/anpr/access", summary="Requests for access to old camera reads", response_model=list[AccessPublic],
            description="Roles: control_room, investigator, admin, authority. Newest first (500 at most).")
def access_list(rt: RuntimeDep, actor: Annotated[Actor, Depends(allow(*READERS, *AUTHORITY))],
                pending: Annotated[bool, Query(description="only those awaiting a decision")] = False) -> list[dict[str, Any]]:
    with rt.sessions() as s:
        return [access_view(r) for r in accesses(s, pending)]


@router.post("/anpr/access/{access_id}/decision", summary="Approve or refuse a request (a second named person)",
             response_model=AccessPublic,
             responses={404: {"description": "No such request"}, 409: {"description": "Already decided"}},
             description="Roles: authority. Not the requester (403); the reason is recorded; an approval lasts "
                         "EVIDENCE_ANPR_APPROVAL_DAYS (7).")
def access_decide(access_id: Id, body: DecisionIn, rt: RuntimeDep,
                  actor: Annotated[Actor, Depends(allow(*AUTHORITY))]) -> dict[str, Any]:
    return access_view(decide_access(rt, access_id, body.decision == "approved", body.reason, actor))
