"""Access to camera reads older than 90 days, on a page: the officer who needs them asks (the plate
query and why), an inspector or above with the authority role approves or refuses with their own
reason, and the officer then searches with the approval from the plate search page. The same
service, rules and audit as the API and the command line (``evidence.anpr_access``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from api.auth import READERS
from api.deps import RuntimeDep
from api.errors import status_of
from api.pages.common import check_csrf, render, staff
from api.params import MAX_ID, Id
from evidence.anpr_access import access_view, accesses, decide_access, request_access
from evidence.db.governance_tables import AnprAccess
from evidence.errors import EvidenceError, InvalidRequest
from evidence.runtime import Runtime
from evidence.states import Role
from evidence.users import SessionUser
from evidence.utc import utcnow

__all__ = ["ACCESS_PAGE", "router"]

router = APIRouter(include_in_schema=False)
ACCESS_PAGE = "/app/anpr/access"
Asker = Annotated[SessionUser, Depends(staff(*READERS))]
Viewer = Annotated[SessionUser, Depends(staff(*READERS, Role.AUTHORITY))]
Authority = Annotated[SessionUser, Depends(staff(Role.AUTHORITY))]
Text = Annotated[str, Form(max_length=2000)]
Csrf = Annotated[str, Form(max_length=100)]


def _when(at: datetime | None) -> str:
    return f"{at:%d %b %Y %H:%M} UTC" if at else ""


def _view(row: AnprAccess, user: SessionUser, now: datetime) -> dict[str, Any]:
    r = access_view(row)
    r["asked"], r["decided"], r["until"] = _when(r["requested_at"]), _when(r["decided_at"]), _when(r["expires_at"])
    r["mine"] = r["requested_by"] == user.name
    r["expired"] = r["expires_at"] is not None and r["expires_at"] <= now
    return r


def _page(request: Request, rt: Runtime, user: SessionUser, status: int = 200, **context: Any) -> HTMLResponse:
    """The authority sees every request waiting (however many) and the latest decisions; an officer
    sees their own."""
    now, deciding = utcnow(), user.role == Role.AUTHORITY
    mine = None if deciding else user.name
    with rt.sessions() as s:
        pending = [_view(r, user, now) for r in reversed(accesses(s, True, mine, limit=10_000))]  # oldest first
        decided = [_view(r, user, now) for r in accesses(s, requested_by=mine, limit=200) if r.state != "pending"]
    return render(request, "anpr_access.html", user, status_code=status, pending=pending, decided=decided,
                  deciding=deciding, days=rt.settings.anpr_reason_after_days,
                  approval_days=rt.settings.anpr_approval_days, page_title="Older ANPR reads", **context)


@router.get(ACCESS_PAGE, response_class=HTMLResponse)
def access_page(request: Request, rt: RuntimeDep, user: Viewer, q: Annotated[str, Query(max_length=20)] = "",
                asked: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None) -> HTMLResponse:
    notice = None
    if asked is not None:
        with rt.sessions() as s:
            row = s.get(AnprAccess, asked)
            if row is not None and row.requested_by == user.name:
                notice = (f"Request {row.id} for {row.scope.get('query')} is {row.state}"
                          + (": waiting for a decision by an inspector or above" if row.state == "pending" else ""))
    return _page(request, rt, user, q=q, notice=notice)


@router.post(ACCESS_PAGE, response_model=None)
def ask(request: Request, rt: RuntimeDep, user: Asker, q: Annotated[str, Form(max_length=20)] = "",
        reason: Text = "", csrf_token: Csrf = "") -> HTMLResponse | RedirectResponse:
    check_csrf(user, csrf_token)
    try:
        row = request_access(rt, user.actor, q, reason)
    except EvidenceError as exc:
        return _page(request, rt, user, status_of(exc), q=q, reason=reason, error=exc.message)
    return RedirectResponse(f"{ACCESS_PAGE}?asked={row.id}", status_code=303)  # a reload does not ask twice


@router.post(ACCESS_PAGE + "/{access_id}/decision", response_class=HTMLResponse)
def decide(access_id: Id, request: Request, rt: RuntimeDep, user: Authority,
           decision: Annotated[str, Form(max_length=10)] = "", reason: Text = "", csrf_token: Csrf = "") -> HTMLResponse:
    check_csrf(user, csrf_token)
    try:
        if decision not in ("approved", "refused"):
            raise InvalidRequest("Choose approve or refuse")
        row = decide_access(rt, access_id, decision == "approved", reason, user.actor)
    except EvidenceError as exc:
        return _page(request, rt, user, status_of(exc), error=f"Request {access_id}: {exc.message}", failed=access_id,
                     failed_reason=reason)
    return _page(request, rt, user, notice=f"Request {row.id} from {row.requested_by} is {row.state}")
