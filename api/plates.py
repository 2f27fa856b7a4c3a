"""Plate sightings in footage: one sighting, its plate and overview crops, and a named person's
review (the read checked against the crop). Every view and review is audited."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from api.auth import READERS, REVIEWERS, allow
from api.deps import RuntimeDep, viewed
from api.guards import SafeJSONRoute
from api.views import sighting_public
from api.params import Id
from api.schemas import PlateSightingPublic, ReviewResult
from evidence.audit import Actor
from evidence.db.tables import PlateSightingRow
from evidence.errors import NotFound
from evidence.review import review_sighting
from evidence.states import Decision

__all__ = ["router"]

router = APIRouter(route_class=SafeJSONRoute, tags=["plates"])


class SightingReviewIn(BaseModel):
    decision: Decision
    reason: str = Field(min_length=1, max_length=2000, description="why: recorded in the audit log")


@router.get("/plate-sightings/{sighting_id}", summary="One plate sighting in footage (audited read)",
            response_model=PlateSightingPublic,
            description="Roles: control_room, investigator, admin. The plate is a read to verify against the "
                        "crop, with the alternatives it was also read as.")
def get_sighting(sighting_id: Id, rt: RuntimeDep,
                 actor: Annotated[Actor, Depends(allow(*READERS))]) -> PlateSightingPublic:
    with viewed(rt, actor, PlateSightingRow, sighting_id, "plate_sighting", "plate_sighting.view") as (_, row, _d):
        return sighting_public(row)


@router.get("/plate-sightings/{sighting_id}/image", summary="A sighting's plate crop or overview, JPEG (audited read)",
            description="Roles: control_room, investigator, admin.", response_class=FileResponse,
            responses={200: {"content": {"image/jpeg": {}}, "description": "the crop"}})
def get_sighting_image(sighting_id: Id, rt: RuntimeDep, actor: Annotated[Actor, Depends(allow(*READERS))],
                       kind: Annotated[Literal["plate", "overview"], Query()] = "plate") -> FileResponse:
    with viewed(rt, actor, PlateSightingRow, sighting_id, "plate_sighting", "plate_sighting.view_image") as (
            _, row, detail):
        image = row.crop if kind == "plate" else row.overview
        if image is None:
            raise NotFound(f"plate sighting {sighting_id} has no {kind} image")
        path = rt.store.absolute(image.store_path)
        detail.update(kind=kind, sha256=image.sha256)
    return FileResponse(path, media_type="image/jpeg")


@router.post("/plate-sightings/{sighting_id}/review", responses={409: {"description": "Already reviewed"}},
             response_model=ReviewResult, summary="Confirm or reject a plate read (a named user's decision)",
             description="Roles: control_room, investigator. The key's name is the reviewer; the reason is required "
                         "and audited.")
async def review(sighting_id: Id, body: SightingReviewIn, rt: RuntimeDep,
                 actor: Annotated[Actor, Depends(allow(*REVIEWERS))]) -> ReviewResult:
    row = await run_in_threadpool(review_sighting, rt, sighting_id, body.decision, actor, body.reason)
    return ReviewResult(id=row.id, review_state=row.review_state, reviewed_by=row.reviewed_by,
                        reason=row.review_reason)
