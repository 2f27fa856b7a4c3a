"""The alert desk page (control room: everything that needs a person, live), the witness's status
page (no account: the link on the receipt) and the page an officer's link opens (no account:
expires)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path as PathParam, Request
from fastapi.responses import FileResponse, HTMLResponse
from sqlalchemy import func, select

from api.auth import OPENERS
from api.deps import RuntimeDep
from api.pages.common import PageUser, render
from api.params import Id
from evidence.alerts import DESK_KINDS, alert_view, alerts_with_incident, open_share
from evidence.audit import audit_read
from evidence.db.outbox_tables import Alert
from evidence.db.tables import CandidateRow, IncidentEvent
from evidence.errors import NotFound
from evidence.notify.subscriptions import list_subscriptions
from evidence.notify.witness import STEPS, stop_emails, witness_view
from evidence.states import ReviewState

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
KINDS = {"candidate": "Potential match", "anpr.hit": "Hotlist hit", "evidence.failed": "Evidence failed",
         "subscription.failing": "Notifications failing", "anpr.camera_silent": "ANPR camera silent"}
Token = Annotated[str, PathParam(min_length=16, max_length=64)]


def _alert(s: Any, a: Alert, reference: str | None) -> dict[str, Any]:
    view = alert_view(a, reference)
    view["raised_clock"] = a.raised_at.strftime("%H:%M:%S")
    view["acked_clock"] = a.acknowledged_at.strftime("%H:%M:%S") if a.acknowledged_at else ""
    sendable = a.kind == "anpr.hit"
    if a.kind == "candidate":
        event = s.get(IncidentEvent, a.event_id)
        c = s.get(CandidateRow, (event.data or {}).get("candidate_id")) if event else None
        sendable = c is not None and c.review_state == ReviewState.CONFIRMED
    view["sendable"] = sendable
    return view


def _devices(rt: Any) -> list[dict[str, Any]]:
    return [{"id": d.id, "name": d.name} for d in list_subscriptions(rt, "device") if d.state != "stopped"]


@router.get("/app/desk", response_class=HTMLResponse)
def desk(request: Request, rt: RuntimeDep, user: PageUser) -> HTMLResponse:
    with rt.sessions() as s:
        alerts = [_alert(s, a, ref) for a, ref in alerts_with_incident(s, open_only=True, limit=200)]
        last = s.scalar(select(func.max(IncidentEvent.id)).where(IncidentEvent.kind.in_(DESK_KINDS))) or 0
    audit_read(rt.sessions, user.actor, "desk.view", "desk", detail={"open": len(alerts)})
    return render(request, "desk.html", user, alerts=alerts, last_event_id=last, kinds=KINDS,
                  devices=_devices(rt), can_send=user.role in OPENERS,
                  escalate_min=f"{rt.settings.alert_escalate_s / 60:g}", page_title="Alert desk")


@router.get("/app/desk/alerts/{alert_id}", response_class=HTMLResponse)
def alert_card(alert_id: Id, request: Request, rt: RuntimeDep, user: PageUser) -> HTMLResponse:
    """One alert's card, for the desk's script to put in the page as the feed reports it."""
    with rt.sessions() as s:
        rows = alerts_with_incident(s, alert_id=alert_id)
        if not rows:
            raise NotFound(f"no alert {alert_id}")
        a = _alert(s, *rows[0])
    return render(request, "alert.html", user, a=a, kinds=KINDS, devices=_devices(rt), can_send=user.role in OPENERS)


def _status(request: Request, rt: Any, token: str, stopped: bool = False) -> HTMLResponse:
    with rt.sessions() as s:
        view = witness_view(s, token)
    context = {"force_name": rt.settings.force_name, "service_name": "Your video", "home_url": f"/s/{token}",
               "page_title": "Your video"}
    return render(request, "witness_status.html", None, status_code=200 if view else 404, view=view, steps=STEPS,
                  token=token, stopped=stopped, **context)


@router.get("/s/{token}", response_class=HTMLResponse)
def status(token: Token, request: Request, rt: RuntimeDep) -> HTMLResponse:
    return _status(request, rt, token)


@router.post("/s/{token}/stop", response_class=HTMLResponse)
def stop(token: Token, request: Request, rt: RuntimeDep) -> HTMLResponse:
    """One click (the page's button, or a mail program's one-click unsubscribe, RFC 8058)."""
    with rt.sessions.begin() as s:
        found = stop_emails(s, token)
    return _status(request, rt, token, stopped=found)


@router.get("/o/{token}", response_class=HTMLResponse)
def shared(token: Token, request: Request, rt: RuntimeDep) -> HTMLResponse:
    share = open_share(rt, token)
    return render(request, "share.html", None, sent=share.sent, token=token, has_image=bool(share.image_path),
                  expires=share.expires_at.strftime("%H:%M UTC on %d %B %Y"),
                  page_title="Alert", service_name="Alert from the control room", home_url=f"/o/{token}")


@router.get("/o/{token}/image")
def shared_image(token: Token, rt: RuntimeDep) -> FileResponse:
    share = open_share(rt, token)
    if not share.image_path:
        raise NotFound("This alert has no image")
    return FileResponse(rt.store.absolute(share.image_path), media_type="image/jpeg",
                        headers={"Cache-Control": "no-store"})
