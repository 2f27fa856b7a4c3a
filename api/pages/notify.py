"""Administration of who is told what: subscriptions (webhooks and email addresses, the events and
filters they get, their state) and officers' devices; each made, stopped and resumed through the
same service as the API (``evidence.notify.subscriptions``), audited under the signed-in name."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from api.auth import ADMINS
from api.deps import RuntimeDep
from api.errors import status_of
from api.pages.admin import ADMIN_NAV
from api.pages.common import check_csrf, render, staff
from api.params import Id
from evidence.errors import EvidenceError, InvalidRequest
from evidence.eventkinds import described, subscribable
from evidence.notify.subscriptions import (create_subscription, list_subscriptions, resume_subscription,
                                           stop_subscription, subscription_view)
from evidence.runtime import Runtime
from evidence.users import SessionUser

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
Admin = Annotated[SessionUser, Depends(staff(*ADMINS))]
Csrf = Annotated[str, Form(max_length=100)]


def _page(request: Request, rt: Runtime, user: SessionUser, status: int = 200, **context: Any) -> HTMLResponse:
    subs = [subscription_view(s) for s in list_subscriptions(rt)]
    return render(request, "admin_subscriptions.html", user, status_code=status, admin_nav=ADMIN_NAV, subs=subs,
                  events=[(k, described(k)) for k in subscribable()], page_title="Notifications",
                  **context)


@router.get("/app/admin/subscriptions", response_class=HTMLResponse)
def subscriptions(request: Request, rt: RuntimeDep, user: Admin) -> HTMLResponse:
    return _page(request, rt, user)


@router.post("/app/admin/subscriptions", response_class=HTMLResponse)
def subscribe(request: Request, rt: RuntimeDep, user: Admin, csrf_token: Csrf = "",
              name: Annotated[str, Form(max_length=100)] = "", purpose: Annotated[str, Form(max_length=16)] = "",
              events: Annotated[list[str], Form(max_length=40)] = [],  # noqa: B006 - FastAPI's form default
              channel: Annotated[str, Form(max_length=16)] = "", target: Annotated[str, Form(max_length=500)] = "",
              incident_type: Annotated[str, Form(max_length=64)] = "",
              hotlist_category: Annotated[str, Form(max_length=32)] = "") -> HTMLResponse:
    check_csrf(user, csrf_token)
    filters = {k: v.strip() for k, v in (("incident_type", incident_type), ("hotlist_category", hotlist_category))
               if v.strip()}
    try:
        if not name.strip():
            raise InvalidRequest("Give its name: who it is for")
        if purpose not in ("subscriber", "device") or channel not in ("webhook", "email"):
            raise InvalidRequest("Choose what it is and how it is told")
        sub, secret = create_subscription(rt, user.actor, name=name.strip(), purpose=purpose,
                                          events=events if purpose == "subscriber" else [], channel=channel,
                                          target=target.strip(), filters=filters)
    except EvidenceError as exc:
        return _page(request, rt, user, status_of(exc), error=exc.message)
    return _page(request, rt, user, created={"name": sub.name, "secret": secret, "channel": sub.channel})


@router.post("/app/admin/subscriptions/{sub_id}/stop")
def stop(sub_id: Id, rt: RuntimeDep, user: Admin, csrf_token: Csrf = "",
         reason: Annotated[str, Form(max_length=2000)] = "") -> RedirectResponse:
    check_csrf(user, csrf_token)
    if not reason.strip():
        raise InvalidRequest("Give the reason for stopping it: it is recorded in the audit log")
    stop_subscription(rt, sub_id, user.actor, reason.strip())
    return RedirectResponse("/app/admin/subscriptions", status_code=303)


@router.post("/app/admin/subscriptions/{sub_id}/resume")
def resume(sub_id: Id, request: Request, rt: RuntimeDep, user: Admin, csrf_token: Csrf = "") -> RedirectResponse:
    check_csrf(user, csrf_token)
    resume_subscription(rt, sub_id, user.actor, "resumed on the notifications page")
    request.app.state.sweeper.wake()
    return RedirectResponse("/app/admin/subscriptions", status_code=303)
