"""Plate sightings in footage: one sighting, its plate and overview crops, and a named user's
review (the read checked against the crop). Every view and review is audited."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from api.auth import allow
from api.guards import SafeJSONRoute
from api.params import Id
from evidence.audit import Actor, audit_read
from evidence.db.tables import PlateSightingRow
from evidence.reports import sighting_view
from evidence.review import review_sighting
from evidence.runtime import Runtime
from pipeline.errors import NotFound

__all__ = ["router", "sighting_public"]

router = APIRouter(route_class=SafeJSONRoute)
LIVE = ("control_room", "investigator", "admin")


class SightingReviewIn(BaseModel):
    decision: Literal["confirmed", "rejected"]
    reason: str = Field(min_length=1, max_length=2000, description="why: recorded in the audit log")


def sighting_public(row: PlateSightingRow) -> dict[str, Any]:
    return sighting_view(row, f"/plate-sightings/{row.id}/image?kind=plate",
                         f"/plate-sightings/{row.id}/image?kind=overview")


def _rt(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


@router.get("/plate-sightings/{sighting_id}", summary="One plate sighting in footage (audited read)",
            description="Roles: control_room, investigator, admin. The plate is a read to verify against the "
                        "crop, with the alternatives it was also read as.")
def get_sighting(sighting_id: Id, request: Request, actor: Annotated[Actor, Depends(allow(*LIVE))]) -> dict[str, Any]:
    rt = _rt(request)
    with rt.sessions() as s:
        row = s.get(PlateSightingRow, sighting_id)
        if row is None:
            raise NotFound(f"plate sighting {sighting_id} not found")
        out = sighting_public(row)
    audit_read(rt.sessions, actor, "plate_sighting.view", f"plate_sighting:{sighting_id}")
    return out


@router.get("/plate-sightings/{sighting_id}/image", summary="A sighting's plate crop or overview, JPEG (audited read)",
            description="Roles: control_room, investigator, admin.", response_class=FileResponse)
def get_sighting_image(sighting_id: Id, request: Request, actor: Annotated[Actor, Depends(allow(*LIVE))],
                       kind: Annotated[Literal["plate", "overview"], Query()] = "plate") -> FileResponse:
    rt = _rt(request)
    with rt.sessions() as s:
        row = s.get(PlateSightingRow, sighting_id)
        image = None if row is None else row.crop if kind == "plate" else row.overview
        if image is None:
            raise NotFound(f"plate sighting {sighting_id} has no {kind} image")
        path, sha256 = rt.store.absolute(image.store_path), image.sha256
    audit_read(rt.sessions, actor, "plate_sighting.view_image", f"plate_sighting:{sighting_id}",
               detail={"kind": kind, "sha256": sha256})
    return FileResponse(path, media_type="image/jpeg")


@router.post("/plate-sightings/{sighting_id}/review", responses={409: {"description": "Already reviewed"}},
             summary="Confirm or reject a plate read (a named user's decision)",
             description="Roles: control_room, investigator. The key's name is the reviewer; the reason is required "
                         "and audited.")
def review(sighting_id: Id, body: SightingReviewIn, request: Request,
           actor: Annotated[Actor, Depends(allow("control_room", "investigator"))]) -> dict[str, Any]:
    row = review_sighting(_rt(request), sighting_id, body.decision, actor, body.reason)
    request.app.state.wake.notify()
    return {"id": row.id, "review_state": row.review_state, "reviewed_by": row.reviewed_by,
            "reason": row.review_reason}
