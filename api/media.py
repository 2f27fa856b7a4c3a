"""Footage and photos as people look at them: an evidence item's working copy (HTTP Range, so a
player can seek; every request audited) and a watchlist subject's reference photo (audited)."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import FileResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.auth import READERS, allow
from api.deps import RuntimeDep, viewed
from api.guards import SafeJSONRoute
from api.params import SEEN_FOR, Id, SeenWith
from evidence.audit import Actor, seen_with
from evidence.db.tables import Derivative, Evidence, WatchlistReference, WatchlistSubjectRow
from evidence.errors import InvalidRequest, NotFound

__all__ = ["router"]

router = APIRouter(route_class=SafeJSONRoute, tags=["footage"])
_PART = r"\s*(?:\d+-\d*|-\d+)\s*"
_RANGE = re.compile(rf"bytes={_PART}(?:,{_PART}){{0,9}}", re.IGNORECASE)  # what a player sends; at most ten ranges


def _range_ok(header: str) -> bool:
    """A Range header of byte ranges, each start ≤ end (what Starlette would otherwise answer with a
    bare 400 of its own)."""
    if not _RANGE.fullmatch(header.strip()):
        return False
    for part in header.strip()[6:].split(","):
        start, _, end = part.strip().partition("-")
        if start and end and int(start) > int(end):
            return False
    return True


@router.get("/evidence/{evidence_id}/working-copy", summary="The evidence's working copy, MP4 (audited)",
            response_class=FileResponse,
            responses={200: {"content": {"video/mp4": {}}, "description": "the working copy"},
                       206: {"content": {"video/mp4": {}}, "description": "the requested range"},
                       416: {"description": "A range past the end of the file"},
                       422: {"description": "A Range header that is not `bytes=start-end[, …]`"}},
            description="Roles: control_room, investigator, admin. A viewing copy (H.264, at most 720p) of the "
                        "original, which is kept unchanged; HTTP Range requests are answered (a player seeks). "
                        "Every request is recorded in the audit log with its range and `t`, the moment asked for.")
def working_copy(evidence_id: Id, rt: RuntimeDep, actor: Annotated[Actor, Depends(allow(*READERS))],
                 range_: Annotated[str | None, Header(alias="range", max_length=100)] = None,
                 t: Annotated[float | None, Query(ge=0, le=10**7, allow_inf_nan=False)] = None) -> FileResponse:
    if range_ is not None and not _range_ok(range_):
        raise InvalidRequest(f"the Range header {range_[:40]!r} is not bytes=start-end (for example bytes=0-1023)")
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
                        "compare beside a potential match's face crop. `seen`: the audit entry of the page that "
                        "shows it (the view is audited once, with its images).")
def subject_photo(subject_id: Id, rt: RuntimeDep, actor: Annotated[Actor, Depends(allow(*READERS))],
                  seen: SeenWith = None) -> FileResponse:
    if seen is not None and seen_with(rt.sessions, actor, seen, f"subject:{subject_id}", SEEN_FOR):
        with rt.sessions() as s:  # shown on a page whose view is audited with it
            return FileResponse(rt.store.absolute(_first_photo(s, subject_id).store_path))
    with viewed(rt, actor, WatchlistSubjectRow, subject_id, "subject", "watchlist.view_photo") as (s, _row, detail):
        ref = _first_photo(s, subject_id)
        path = rt.store.absolute(ref.store_path)
        detail["sha256"] = ref.sha256
    return FileResponse(path)


def _first_photo(s: Session, subject_id: int) -> WatchlistReference:
    ref = s.scalar(select(WatchlistReference).where(WatchlistReference.subject_id == subject_id)
                   .order_by(WatchlistReference.id))
    if ref is None:
        raise NotFound(f"subject {subject_id} has no reference photo (removed from the watchlist)")
    return ref
