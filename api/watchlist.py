"""The watchlist: its subjects, enrolment from reference photos (all-or-nothing: each photo must
show exactly one face), and removal (a reason required; candidates raised keep their history)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile

from api.auth import ADMINS, READERS, allow
from api.deps import RuntimeDep
from api.guards import SafeJSONRoute
from api.params import Id
from api.schemas import Removed, SubjectPublic, multipart_body
from evidence.audit import Actor
from evidence.db.governance_tables import WatchlistRow
from evidence.db.tables import WatchlistSubjectRow
from evidence.errors import InvalidReference, NotFound
from evidence.filestore import clean_name
from evidence.images import MAX_FILE_BYTES
from evidence.uploads import receive
from evidence.utc import end_of_day
from evidence.watchlists import Enrolment, enrol, list_subjects, remove_subject

__all__ = ["ENROLMENT_MAX", "ENROL_FIELDS", "EnrolFields", "enrol_fields", "router"]

router = APIRouter(route_class=SafeJSONRoute, tags=["watchlist"])
ENROLMENT_MAX = 100 * 1024 * 1024  # one subject's reference photos, all in one request
MAX_PHOTOS = 20
ENROL_FORM = multipart_body({"name": {"type": "string", "maxLength": 200},
                             "images": {"type": "array", "items": {"type": "string", "format": "binary"},
                                        "maxItems": MAX_PHOTOS},
                             "watchlist": {"type": "string", "maxLength": 100,
                                           "description": "the list (default: the first of EVIDENCE_DEFAULT_WATCHLISTS)"},
                             "source": {"type": "string", "maxLength": 200,
                                        "description": "where the photos come from, e.g. a custody image reference"},
                             "reason": {"type": "string", "maxLength": 2000, "description": "why they are on the list"},
                             "risk": {"type": "string", "maxLength": 500,
                                      "description": "warning markers an officer must know (shown on each potential match)"},
                             "expires": {"type": "string", "format": "date",
                                         "description": "YYYY-MM-DD: purged after that day (UTC)"}},
                            ["name", "images"])
ENROL_FIELDS = 6  # besides the photos


@dataclass(frozen=True)
class EnrolFields:
    """An enrolment form's text fields, checked before any photo is received."""

    name: str
    watchlist: str | None
    source: str | None
    reason: str | None
    expires_at: datetime | None
    risk: str | None = None

    def enrolment(self, images: tuple[Path, ...], labels: tuple[str, ...]) -> Enrolment:
        return Enrolment(self.name, images, labels, self.expires_at, self.source, self.reason, self.risk)


def enrol_fields(form: FormData) -> EnrolFields:
    """The name, list, source, reason and expiry sent with reference photos (InvalidReference saying
    which is wrong); empty fields are None."""
    def text(field: str, most: int, lines: bool = False) -> str | None:
        value = form.get(field)
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if not isinstance(value, str) or len(value) > most or not (value.replace("\n", " ") if lines else value).isprintable():
            raise InvalidReference(f"a subject's `{field}` is at most {most} printable characters")
        return value.strip()

    name = text("name", 200)
    if name is None:
        raise InvalidReference("send a `name` and at least one reference photo as `images`")
    day = text("expires", 10)
    expires_at = end_of_day(day) if day else None
    if day and expires_at is None:
        raise InvalidReference(f"`expires` is a date (YYYY-MM-DD), not {day!r}")
    return EnrolFields(name, text("watchlist", 100), text("source", 200), text("reason", 2000, lines=True), expires_at,
                       text("risk", 500, lines=True))


@router.get("/watchlist", summary="Watchlist subjects and their number of reference photos",
            response_model=list[SubjectPublic], description="Roles: control_room, investigator, admin.")
def watchlist(rt: RuntimeDep, actor: Annotated[Actor, Depends(allow(*READERS))]) -> list[SubjectPublic]:
    with rt.sessions() as s:
        return [_public(s, r) for r in list_subjects(s) if r.references]


def _public(s: Session, r: WatchlistSubjectRow) -> SubjectPublic:
    wl = s.get(WatchlistRow, r.watchlist_id)
    return SubjectPublic(id=r.id, name=r.name, references=len(r.references), watchlist=wl.name if wl else None,
                         expires_at=r.expires_at, version=r.version, source=r.source, reason=r.reason,
                         risk=r.risk, added_by=r.created_by)


@router.post("/watchlist", status_code=201, summary="Enrol a subject from reference photos",
             response_model=SubjectPublic, openapi_extra=ENROL_FORM,
             description="Roles: admin. Multipart `name` and one or more `images`; each photo must show "
                         "exactly one face, or nothing is enrolled (422 `invalid_reference` naming each). "
                         "Optional: `watchlist` (a live list; default the first of EVIDENCE_DEFAULT_WATCHLISTS), "
                         "`source` (e.g. a custody image reference), `reason`, `expires` (YYYY-MM-DD, UTC; the "
                         "subject is never matched after its list expires either).",
             responses={404: {"description": "No watchlist of that name"},
                        409: {"description": "The list has expired or been purged, or is at its maximum size"},
                        422: {"description": "A photo without exactly one face, a missing name, or `expires` not a "
                                             "date in the future"}})
async def add_subject(request: Request, rt: RuntimeDep, actor: Annotated[Actor, Depends(allow(*ADMINS))]) -> SubjectPublic:
    form = await request.form(max_files=MAX_PHOTOS, max_fields=ENROL_FIELDS)
    fields = enrol_fields(form)
    images = [f for f in form.getlist("images") if isinstance(f, UploadFile)]
    if not images:
        raise InvalidReference("send a `name` and at least one reference photo as `images`")
    list_name = fields.watchlist or rt.settings.default_watchlists[0]
    tmp_paths: list[Path] = []
    try:
        for f in images:
            tmp_paths.append(await run_in_threadpool(receive, rt, f.file, MAX_FILE_BYTES))
        labels = tuple(clean_name(f.filename, default=f"photo {i}") for i, f in enumerate(images, start=1))
        await run_in_threadpool(enrol, rt, [fields.enrolment(tuple(tmp_paths), labels)], actor, watchlist=list_name)
    finally:
        for p in tmp_paths:
            p.unlink(missing_ok=True)
    with rt.sessions() as s:
        subject = s.scalar(select(WatchlistSubjectRow).join(WatchlistRow, WatchlistRow.id == WatchlistSubjectRow.watchlist_id)
                           .where(WatchlistRow.name == list_name, WatchlistSubjectRow.name == fields.name))
        if subject is None:  # taken off again between the enrolment and this read
            raise NotFound(f"{fields.name} is no longer on {list_name!r}")
        return _public(s, subject)


@router.delete("/watchlist/{subject_id}", summary="Take a subject off the watchlist", response_model=Removed,
               description="Roles: admin. A `reason` (query) is required and audited; candidates already "
                           "raised keep their history.")
def remove(subject_id: Id, rt: RuntimeDep, reason: Annotated[str, Query(min_length=1, max_length=2000)],
           actor: Annotated[Actor, Depends(allow(*ADMINS))]) -> Removed:
    return Removed(id=subject_id, name=remove_subject(rt, subject_id, actor, reason), removed=True)
