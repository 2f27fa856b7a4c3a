"""The administrator's Watchlists page: each list with its authority (the named senior officer,
purpose, legal basis, category, expiry and maximum size, as the Authorised Professional Practice
asks), a list created or its authorisation recorded, a person enrolled on a chosen list from
reference photos with the photos' source, the reason and an expiry, and a person taken off with a
reason. The same services as ``evidence watchlist create|authorise|add|remove`` and ``POST
/watchlist``, audited under the signed-in name."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from starlette.datastructures import FormData, UploadFile

from api.deps import RuntimeDep
from api.errors import status_of
from api.pages.admin import MAX_PHOTOS, Admin, Confirmed, Csrf, Reason, admin_page, confirm_first, need_reason
from api.pages.common import FieldError, check_csrf, field_of, typed_date
from api.params import Id
from api.watchlist import ENROL_FIELDS, enrol_fields
from evidence.db.tables import WatchlistSubjectRow
from evidence.errors import EvidenceError, InvalidRequest
from evidence.filestore import clean_name
from evidence.images import MAX_FILE_BYTES
from evidence.runtime import Runtime
from evidence.uploads import receive
from evidence.users import SessionUser
from evidence.utc import end_of_day, utcnow
from evidence.watchlist_lists import (NOT_RECORDED, ListSpec, authorise_list, create_list, list_is_live, list_view,
                                      watchlists)
from evidence.watchlists import enrol, list_subjects, remove_subject

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
Line = Annotated[str, Form(max_length=200)]
# Dates as GOV.UK has people type them: day, month and year.
ListDay = Annotated[str, Form(alias="list-expires-day", max_length=4)]
ListMonth = Annotated[str, Form(alias="list-expires-month", max_length=4)]
ListYear = Annotated[str, Form(alias="list-expires-year", max_length=4)]
LIST_TEXT = (("name", "the name of the list"), ("purpose", "what the list is for"), ("legal_basis", "its legal basis"),
             ("category", "its category"), ("authorised_by", "the senior officer who authorised it"))


def _page(request: Request, rt: Runtime, user: SessionUser, status: int = 200, **context: Any) -> HTMLResponse:
    now = utcnow()
    with rt.sessions() as s:
        lists = {w.id: list_view(w) | {"live": list_is_live(w, now)} for w in watchlists(s)}
        subjects = [{"id": r.id, "name": r.name, "references": len(r.references), "list": lists[r.watchlist_id]["name"],
                     "source": r.source or "", "reason": r.reason or "", "risk": r.risk or "", "added_by": r.created_by,
                     "expires": f"{r.expires_at:%Y-%m-%d}" if r.expires_at else ""}
                    for r in list_subjects(s) if r.references]
    context.setdefault("enrol", {"watchlist": rt.settings.default_watchlists[0]})
    context.setdefault("spec", {"mode": "create"})
    return admin_page(request, "admin_watchlist.html", user, status, subjects=subjects, lists=list(lists.values()),
                      default_list=rt.settings.default_watchlists[0], page_title="Watchlists", **context)


@router.get("/app/admin/watchlist", response_class=HTMLResponse)
def watchlist(request: Request, rt: RuntimeDep, user: Admin,
              authorise: Annotated[str, Query(max_length=100)] = "") -> HTMLResponse:
    """``?authorise=NAME`` opens the list form on that list, filled with its current authority."""
    if not authorise:
        return _page(request, rt, user)
    with rt.sessions() as s:
        current = next((list_view(w) for w in watchlists(s) if w.name == authorise and w.purged_at is None), None)
    if current is None:
        return _page(request, rt, user, 404, error=f"There is no watchlist called {authorise!r} to re-authorise")
    spec = {k: ("" if str(v).startswith(NOT_RECORDED) else v) for k, v in current.items()}
    return _page(request, rt, user, spec=spec | {"mode": "authorise", "expires": ""})


@router.post("/app/admin/watchlist/lists", response_class=HTMLResponse)
def watchlist_list(request: Request, rt: RuntimeDep, user: Admin, mode: Annotated[str, Form(max_length=10)] = "",
                   name: Annotated[str, Form(max_length=100)] = "", purpose: Reason = "", legal_basis: Line = "",
                   category: Annotated[str, Form(max_length=64)] = "", authorised_by: Annotated[str, Form(max_length=100)] = "",
                   expires_day: ListDay = "", expires_month: ListMonth = "", expires_year: ListYear = "",
                   max_subjects: Annotated[str, Form(max_length=8)] = "", csrf_token: Csrf = "") -> HTMLResponse:
    """Create a list (``mode=create``) or record a new authorisation of one (``mode=authorise``)."""
    check_csrf(user, csrf_token)
    typed = {"mode": mode, "name": name, "purpose": purpose, "legal_basis": legal_basis, "category": category,
             "authorised_by": authorised_by, "list-expires-day": expires_day, "list-expires-month": expires_month,
             "list-expires-year": expires_year, "max_subjects": max_subjects}
    try:
        if mode not in ("create", "authorise"):
            raise InvalidRequest("Choose to create a list or to record its authorisation")
        for field, what in LIST_TEXT:
            if not typed[field].strip():
                raise FieldError(f"list-{field}", f"Give {what}")
        day = typed_date(typed, "list-expires", "The date the authority ends")
        if day is None:
            raise FieldError("list-expires-day", "Enter the date the authority ends: a list must expire")
        until = end_of_day(day.isoformat())
        assert until is not None  # a real date
        most = max_subjects.strip()
        if not (most.isascii() and most.isdecimal()):
            raise FieldError("list-max_subjects", "Give the most people the list may hold, as a number from 1 to 1000000")
        spec = ListSpec(name.strip(), purpose.strip(), legal_basis.strip(), category.strip(), authorised_by.strip(),
                        until, int(most))
        wl = (create_list if mode == "create" else authorise_list)(rt, spec, user.actor)
    except EvidenceError as exc:
        return _page(request, rt, user, status_of(exc), error=exc.message, spec=typed, field=field_of(exc))
    done = "created" if mode == "create" else "re-authorised"
    return _page(request, rt, user, notice=f"Watchlist {wl.name} {done}: authorised by {wl.authorised_by} until "
                                           f"{until:%d %B %Y}")


@router.post("/app/admin/watchlist", response_class=HTMLResponse)
async def watchlist_enrol(request: Request, rt: RuntimeDep, user: Admin) -> HTMLResponse:
    form = await request.form(max_files=MAX_PHOTOS, max_fields=ENROL_FIELDS + 3)  # + the CSRF token, and the date typed in three parts
    token = form.get("csrf_token")
    check_csrf(user, token if isinstance(token, str) else None)
    typed = {k: v for k in ("name", "watchlist", "source", "reason", "risk", "enrol-expires-day", "enrol-expires-month",
                            "enrol-expires-year") if isinstance(v := form.get(k), str)}
    images = [f for f in form.getlist("images") if isinstance(f, UploadFile) and f.filename]
    tmp_paths: list[Path] = []
    try:
        if not typed.get("name", "").strip():
            raise FieldError("enrol-name", "Give the person's name")
        if not typed.get("reason", "").strip():
            raise FieldError("enrol-reason", "Give the reason they are on the list: it is recorded with them")
        off = typed_date(typed, "enrol-expires", "The date to take them off")
        if not images:
            raise FieldError("images", "Choose at least one reference photo")
        fields = enrol_fields(FormData([(k, v) for k, v in form.multi_items() if not k.startswith("enrol-expires-")]
                                       + ([("expires", off.isoformat())] if off else [])))
        list_name = fields.watchlist or rt.settings.default_watchlists[0]
        for f in images:
            tmp_paths.append(await run_in_threadpool(receive, rt, f.file, MAX_FILE_BYTES))
        labels = tuple(clean_name(f.filename, default=f"photo {i}") for i, f in enumerate(images, start=1))
        await run_in_threadpool(enrol, rt, [fields.enrolment(tuple(tmp_paths), labels)], user.actor,
                                watchlist=list_name)
    except EvidenceError as exc:
        again = " Choose the photos again: a page cannot keep them." if images else ""
        return _page(request, rt, user, status_of(exc), error=exc.message + again, enrol=typed, field=field_of(exc))
    finally:
        for p in tmp_paths:
            p.unlink(missing_ok=True)
    return _page(request, rt, user, notice=f"{fields.name} is on the {list_name} list ({len(images)} photo(s))")


@router.post("/app/admin/watchlist/{subject_id}/remove", response_class=HTMLResponse)
def watchlist_remove(subject_id: Id, request: Request, rt: RuntimeDep, user: Admin, reason: Reason = "",
                     csrf_token: Csrf = "", confirmed: Confirmed = "") -> HTMLResponse:
    check_csrf(user, csrf_token)
    try:
        why = need_reason(reason, "taking someone off the watchlist")
        with rt.sessions() as s:
            subject = s.get(WatchlistSubjectRow, subject_id)
            who = subject.name if subject else str(subject_id)
        if page := confirm_first(request, user, confirmed, f"Take {who} off the watchlist?", f"Their reference photos "
                                 f"are deleted and footage stops being matched against them. Your reason: {why}",
                                 f"Take {who} off", "/app/admin/watchlist", reason=why):
            return page
        name = remove_subject(rt, subject_id, user.actor, why)
    except EvidenceError as exc:
        return _page(request, rt, user, status_of(exc), error=exc.message)
    return _page(request, rt, user, notice=f"{name} is off the watchlist")
