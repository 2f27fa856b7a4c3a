"""The watchlist: its subjects, enrolment from reference photos (all-or-nothing: each photo must
show exactly one face), and removal (a reason required; candidates raised keep their history)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile

from api.auth import ADMINS, READERS, allow
from api.deps import RuntimeDep
from api.guards import SafeJSONRoute
from api.params import Id
from api.schemas import Removed, SubjectPublic, multipart_body
from evidence.audit import Actor
from evidence.db.governance_tables import WatchlistRow
from evidence.db.tables import WatchlistSubjectRow
from evidence.errors import InvalidReference
from evidence.filestore import clean_name
from evidence.images import MAX_FILE_BYTES
from evidence.uploads import receive
from evidence.watchlists import Enrolment, enrol, list_subjects, remove_subject

__all__ = ["ENROLMENT_MAX", "router"]

router = APIRouter(route_class=SafeJSONRoute, tags=["watchlist"])
ENROLMENT_MAX = 100 * 1024 * 1024  # one subject's reference photos, all in one request
MAX_PHOTOS = 20
ENROL_FORM = multipart_body({"name": {"type": "string", "maxLength": 200},
                             "images": {"type": "array", "items": {"type": "string", "format": "binary"},
                                        "maxItems": MAX_PHOTOS}}, ["name", "images"])


@router.get("/watchlist", summary="Watchlist subjects and their number of reference photos",
            response_model=list[SubjectPublic], description="Roles: control_room, investigator, admin.")
def watchlist(rt: RuntimeDep, actor: Annotated[Actor, Depends(allow(*READERS))]) -> list[SubjectPublic]:
    with rt.sessions() as s:
        return [_public(s, r) for r in list_subjects(s) if r.references]


def _public(s: Session, r: WatchlistSubjectRow) -> SubjectPublic:
    wl = s.get(WatchlistRow, r.watchlist_id)
    return SubjectPublic(id=r.id, name=r.name, references=len(r.references), watchlist=wl.name if wl else None,
                         expires_at=r.expires_at, version=r.version)


@router.post("/watchlist", status_code=201, summary="Enrol a subject from reference photos",
             response_model=SubjectPublic, openapi_extra=ENROL_FORM,
             description="Roles: admin. Multipart `name` and one or more `images`; each photo must show "
                         "exactly one face, or nothing is enrolled (422 `invalid_reference` naming each).")
async def add_subject(request: Request, rt: RuntimeDep, actor: Annotated[Actor, Depends(allow(*ADMINS))]) -> SubjectPublic:
    form = await request.form(max_files=MAX_PHOTOS, max_fields=5)
    name = form.get("name")
    images = [f for f in form.getlist("images") if isinstance(f, UploadFile)]
    if not isinstance(name, str) or not name.strip() or not images:
        raise InvalidReference("send a `name` and at least one reference photo as `images`")
    if len(name) > 200 or not name.isprintable():
        raise InvalidReference("a subject's `name` is at most 200 printable characters")
    tmp_paths: list[Path] = []
    try:
        for f in images:
            tmp_paths.append(await run_in_threadpool(receive, rt, f.file, MAX_FILE_BYTES))
        labels = tuple(clean_name(f.filename, default=f"photo {i}") for i, f in enumerate(images, start=1))
        await run_in_threadpool(enrol, rt, [Enrolment(name.strip(), tuple(tmp_paths), labels)], actor)
    finally:
        for p in tmp_paths:
            p.unlink(missing_ok=True)
    with rt.sessions() as s:
        wl = s.scalar(select(WatchlistRow).where(WatchlistRow.name == rt.settings.default_watchlists[0]))
        return _public(s, next(r for r in list_subjects(s, wl.id if wl else None) if r.name == name.strip()))


@router.delete("/watchlist/{subject_id}", summary="Take a subject off the watchlist", response_model=Removed,
               description="Roles: admin. A `reason` (query) is required and audited; candidates already "
                           "raised keep their history.")
def remove(subject_id: Id, rt: RuntimeDep, reason: Annotated[str, Query(min_length=1, max_length=2000)],
           actor: Annotated[Actor, Depends(allow(*ADMINS))]) -> Removed:
    return Removed(id=subject_id, name=remove_subject(rt, subject_id, actor, reason), removed=True)
