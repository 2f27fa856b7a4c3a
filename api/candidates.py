"""Watchlist candidates: one (an audited read), its face crop (audited), and a named person's
review of it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from api.auth import READERS, REVIEWERS, allow
from api.deps import RuntimeDep, viewed
from api.guards import SafeJSONRoute
from api.views import candidate_public
from api.params import SEEN_FOR, Id, SeenWith
from api.schemas import CandidatePublic, ReviewResult
from evidence.audit import Actor, seen_with
from evidence.db.tables import CandidateRow
from evidence.errors import NotFound
from evidence.review import review_candidate
from evidence.states import Decision

__all__ = ["ReviewIn", "router"]

router = APIRouter(route_class=SafeJSONRoute, tags=["candidates"])


class ReviewIn(BaseModel):
    decision: Decision
    reason: str = Field(min_length=1, max_length=2000, description="why: recorded in the audit log")


@router.get("/candidates/{candidate_id}", summary="One candidate (audited read)", response_model=CandidatePublic,
            description="Roles: control_room, investigator, admin.")
def get_candidate(candidate_id: Id, rt: RuntimeDep,
                  actor: Annotated[Actor, Depends(allow(*READERS))]) -> CandidatePublic:
    with viewed(rt, actor, CandidateRow, candidate_id, "candidate", "candidate.view") as (_, c, _detail):
        return candidate_public(c)


@router.get("/candidates/{candidate_id}/crop", summary="The candidate's face crop, JPEG (audited read)",
            description="Roles: control_room, investigator, admin. `seen`: the audit entry of the page that "
                        "shows it (the view is audited once, with its images).", response_class=FileResponse,
            responses={200: {"content": {"image/jpeg": {}}, "description": "the face crop"}})
def get_crop(candidate_id: Id, rt: RuntimeDep, actor: Annotated[Actor, Depends(allow(*READERS))],
             seen: SeenWith = None) -> FileResponse:
    if seen is not None and seen_with(rt.sessions, actor, seen, f"candidate:{candidate_id}", SEEN_FOR):
        with rt.sessions() as s:  # shown on a page whose view is audited with it
            c = s.get(CandidateRow, candidate_id)
            if c is None or c.track.crop is None:
                raise NotFound(f"candidate {candidate_id} has no crop")
            return FileResponse(rt.store.absolute(c.track.crop.store_path), media_type="image/jpeg")
    with viewed(rt, actor, CandidateRow, candidate_id, "candidate", "candidate.view_crop") as (_, c, detail):
        if c.track.crop is None:
            raise NotFound(f"candidate {candidate_id} has no crop")
        path, detail["sha256"] = rt.store.absolute(c.track.crop.store_path), c.track.crop.sha256
    return FileResponse(path, media_type="image/jpeg")


@router.post("/candidates/{candidate_id}/review", response_model=ReviewResult,
             responses={409: {"description": "Already reviewed"}},
             summary="Confirm or reject a candidate (a named user's decision)",
             description="Roles: control_room, investigator. The key's name is the reviewer; the reason "
                         "is required and audited. A rejected subject is not raised again for that face track.")
async def review(candidate_id: Id, body: ReviewIn, rt: RuntimeDep,
                 actor: Annotated[Actor, Depends(allow(*REVIEWERS))]) -> ReviewResult:
    c = await run_in_threadpool(review_candidate, rt, candidate_id, body.decision, actor, body.reason)
    return ReviewResult(id=c.id, review_state=c.review_state, reviewed_by=c.reviewed_by, reason=c.review_reason)
