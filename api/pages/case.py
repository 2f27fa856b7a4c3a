"""An incident as a case: who has it (assigned to a named member of staff), closing it with a
reason once nothing more is expected (its upload links stop working: a confirmation page says so
first) and reopening it. The incidents list searches and filters on the same (api/pages/control)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select

from api.errors import status_of
from api.deps import RuntimeDep
from api.pages.common import FieldError, PageUser, check_csrf, field_of, incident_view, render
from api.params import Id
from evidence.db.upload_tables import UploadLink
from evidence.errors import EvidenceError
from evidence.incidents import assign_incident, close_incident, reopen_incident
from evidence.users import SessionUser
from evidence.runtime import Runtime
from evidence.utc import utcnow

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
Reason = Annotated[str, Form(max_length=2000)]
Csrf = Annotated[str, Form()]


def _open_links(rt: Runtime, incident_id: int) -> int:
    with rt.sessions() as s:
        return int(s.scalar(select(func.count(UploadLink.id)).where(UploadLink.incident_id == incident_id,
                                                                    UploadLink.expires_at > utcnow())) or 0)


def _status_page(request: Request, rt: Runtime, user: SessionUser, incident_id: int, to: Literal["close", "reopen"],
                 reason: str = "", status_code: int = 200, **context: str) -> HTMLResponse:
    view = incident_view(rt, incident_id)
    links = _open_links(rt, incident_id) if to == "close" else 0
    return render(request, "case_status.html", user, status_code=status_code, incident=view, to=to, links=links,
                  reason=reason, page_title=f"{'Close' if to == 'close' else 'Reopen'} {view['reference']}", **context)


@router.get("/app/incidents/{incident_id}/close", response_class=HTMLResponse)
def close_page(incident_id: Id, request: Request, rt: RuntimeDep, user: PageUser) -> HTMLResponse:
    return _status_page(request, rt, user, incident_id, "close")


@router.get("/app/incidents/{incident_id}/reopen", response_class=HTMLResponse)
def reopen_page(incident_id: Id, request: Request, rt: RuntimeDep, user: PageUser) -> HTMLResponse:
    return _status_page(request, rt, user, incident_id, "reopen")


@router.post("/app/incidents/{incident_id}/close", response_model=None)
def close(incident_id: Id, request: Request, rt: RuntimeDep, user: PageUser, reason: Reason = "",
          csrf_token: Csrf = "") -> Response:
    return _change(request, rt, user, incident_id, "close", reason, csrf_token)


@router.post("/app/incidents/{incident_id}/reopen", response_model=None)
def reopen(incident_id: Id, request: Request, rt: RuntimeDep, user: PageUser, reason: Reason = "",
           csrf_token: Csrf = "") -> Response:
    return _change(request, rt, user, incident_id, "reopen", reason, csrf_token)


def _change(request: Request, rt: Runtime, user: SessionUser, incident_id: int, to: Literal["close", "reopen"],
            reason: str, csrf_token: str) -> Response:
    check_csrf(user, csrf_token)
    try:
        if not reason.strip():
            raise FieldError("reason", f"Enter why you are {'closing' if to == 'close' else 'reopening'} the incident")
        (close_incident if to == "close" else reopen_incident)(rt, incident_id, user.actor, reason)
    except EvidenceError as exc:
        return _status_page(request, rt, user, incident_id, to, reason, status_of(exc), error=exc.message,
                            field=field_of(exc))
    return RedirectResponse(f"/app/incidents/{incident_id}", status_code=303)


@router.post("/app/incidents/{incident_id}/assign")
def assign(incident_id: Id, rt: RuntimeDep, user: PageUser,
           to: Annotated[str, Form(max_length=100)] = "", was: Annotated[str, Form(max_length=100)] = "",
           csrf_token: Csrf = "") -> RedirectResponse:
    """Give the incident to someone (``to`` empty: nobody); refused if it changed since the board was drawn."""
    check_csrf(user, csrf_token)
    assign_incident(rt, incident_id, user.actor, to or None, was)
    return RedirectResponse(f"/app/incidents/{incident_id}", status_code=303)
