"""The hotlist: vehicles of interest. A camera read or a plate in footage that matches one (O/0,
I/1, B/8, S/5, Z/2, G/6 alike) is a hit on the entry's incident, for an operator to verify against
the image."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from api.auth import READERS, allow
from api.deps import RuntimeDep
from api.guards import SafeJSONRoute
from api.params import MAX_ID, Id
from api.schemas import HotlistEntryPublic, Removed
from evidence.anpr import add_hotlist, hotlist, remove_hotlist
from evidence.audit import Actor
from evidence.db.tables import HotlistEntry
from evidence.utc import UtcDatetime

__all__ = ["router"]

router = APIRouter(route_class=SafeJSONRoute, tags=["anpr"])


class HotlistIn(BaseModel):
    vrm: str = Field(min_length=1, max_length=20)
    reason: str = Field(min_length=1, max_length=2000)
    category: str = Field(min_length=1, max_length=32, description="e.g. wanted, stolen, missing_person")
    incident_id: int | None = Field(None, ge=1, le=MAX_ID)
    expires_at: UtcDatetime | None = Field(None, description="with its UTC offset; the entry stops matching then")


def _entry(e: HotlistEntry) -> HotlistEntryPublic:
    return HotlistEntryPublic(id=e.id, vrm=e.vrm, reason=e.reason, category=e.category, incident_id=e.incident_id,
                              expires_at=e.expires_at, added_by=e.added_by, added_at=e.added_at)


@router.post("/hotlist", status_code=201, summary="Add a vehicle of interest", response_model=HotlistEntryPublic,
             responses={404: {"description": "No such incident"}},
             description="Roles: control_room, investigator, admin. Reads match it confusion-aware; hits go to "
                         "`incident_id`'s feed.")
def hotlist_add(body: HotlistIn, rt: RuntimeDep, actor: Annotated[Actor, Depends(allow(*READERS))]) -> HotlistEntryPublic:
    return _entry(add_hotlist(rt, body.vrm, body.reason, body.category, body.incident_id, body.expires_at, actor))


@router.get("/hotlist", summary="The hotlist", response_model=list[HotlistEntryPublic],
            description="Roles: control_room, investigator, admin.")
def hotlist_list(rt: RuntimeDep, actor: Annotated[Actor, Depends(allow(*READERS))]) -> list[HotlistEntryPublic]:
    with rt.sessions() as s:
        return [_entry(e) for e in hotlist(s)]


@router.delete("/hotlist/{hotlist_id}", summary="Take a vehicle off the hotlist", response_model=Removed,
               description="Roles: control_room, investigator, admin. `reason` is required and audited.")
def hotlist_remove(hotlist_id: Id, rt: RuntimeDep, reason: Annotated[str, Query(min_length=1, max_length=2000)],
                   actor: Annotated[Actor, Depends(allow(*READERS))]) -> Removed:
    remove_hotlist(rt, hotlist_id, actor, reason)
    return Removed(id=hotlist_id, removed=True)
