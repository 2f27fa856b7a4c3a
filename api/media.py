"""Footage and photos as people look at them: an evidence item's working copy (HTTP Range, so a
player can seek; every request audited) and a watchlist subject's reference photo (audited)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import FileResponse
from sqlalchemy import select

from api.auth import READERS, allow
from api.deps import RuntimeDep, viewed
from api.guards import SafeJSONRoute
from api.params import Id
from evidence.audit import Actor
from evidence.db.tables import Derivative, Evidence, WatchlistReference, WatchlistSubjectRow
from evidence.errors import NotFound

__all__ = ["router"]

router = APIRouter(route_class=SafeJSONRoute, tags=["footage"])


@router.get("/evidence/{evidence_id}/working-copy", summary="The evidence's working copy, MP4 (audited)",
            response_class=FileResponse,
            responses={200: {"content": {"video/mp4": {}}, "description": "the working copy"},
                       206: {"content": {"video/mp4": {}}, "description": "the requested range"}},
            description="Roles: control_room, investigator, admin. A viewing copy (H.264, at most 720p) of the "
                        "original, which is kept unchanged; HTTP Range requests are answered (a player seeks). "
                        "Every request is recorded in the audit log with its range and `t`, the moment asked for.")
def working_copy(evidence_id: Id, rt: RuntimeDep, actor: Annotated[Actor, Depends(allow(*READERS))],
                 range_: Annotated[str | None, Header(alias="range", max_length=100)] = None,
                 t: Annotated[float | None, Query(ge=0, le=10**7, allow_inf_nan=False)] = None) -> FileResponse:
    with viewed(rt, actor, Evidence, evidence_id, "evidence", "evidence.view_footage") as (s, _ev, detail):
        copy = s.scalar(select(Derivative).where(Derivative.evidence_id == evidence_id,
                                                 Derivative.kind == "working_copy").order_by(Derivative.id.desc()))
        if copy is None:
            raise NotFound(f"evidence {evidence_id} has no working copy yet")
        path = rt.store.absolute(copy.store_path)
        detail.update(sha256=copy.sha256, range=range_, t_s=t)
    return FileResponse(path, media_type="video/mp4")


@router.get("/watchlist/{subject_id}/photo", summary="A watchlist subject's reference photo, JPEG (audited)",
            response_class=FileResponse,
            responses={200: {"content": {"image/jpeg": {}}, "description": "the first reference photo"}},
            description="Roles: control_room, investigator, admin. The photo the subject was enrolled with, to "
                        "compare beside a potential match's face crop.")
def subject_photo(subject_id: Id, rt: RuntimeDep, actor: Annotated[Actor, Depends(allow(*READERS))]) -> FileResponse:
    with viewed(rt, actor, WatchlistSubjectRow, subject_id, "subject", "watchlist.view_photo") as (s, _row, detail):
        ref = s.scalar(select(WatchlistReference).where(WatchlistReference.subject_id == subject_id)
                       .order_by(WatchlistReference.id))
        if ref is None:
            raise NotFound(f"subject {subject_id} has no reference photo (removed from the watchlist)")
        path = rt.store.absolute(ref.store_path)
        detail["sha256"] = ref.sha256
    return FileResponse(path)
