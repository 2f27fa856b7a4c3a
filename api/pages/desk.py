"""The alert desk page (control room: everything that needs a person, live; the handled alerts too,
still sendable to an officer), the witness's status page (no account: the link on the receipt)
and the page an officer's link opens (no account: expires; the officer answers from it)."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Path as PathParam, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from sqlalchemy import func, select

from api.auth import OPENERS
from api.deps import RuntimeDep
from api.pages.common import PageUser, check_csrf, officer_devices, render, staff
from api.pages.common import local_time
from api.pages.hits import hit_view
from api.params import Id
from evidence.alerts import (DESK_KINDS, alert_view, alerts_with_incident, can_be_sent, officer_reply, open_share, send_to_officer,
                             shares_of)
from evidence.eventkinds import EventKind, alerting, wording
from evidence.users import SessionUser
from evidence.audit import audit_read
from evidence.db.outbox_tables import Alert
from evidence.db.tables import CandidateRow, IncidentEvent
from evidence.errors import InvalidRequest, NotFound
from evidence.settings import Settings
from evidence.notify.witness import STEPS, stop_emails, witness_view

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
KINDS = {k: wording(k) for k in alerting()}  # the desk's alerts, named as everywhere else
Token = Annotated[str, PathParam(min_length=16, max_length=64)]
Opener = Annotated[SessionUser, Depends(staff(*OPENERS))]


SHOW = {"open": "Needs someone", "handled": "Handled", "all": "All"}


def _alert(s: Any, a: Alert, reference: str | None, settings: Settings,
           shares: dict[int, list[dict[str, Any]]] | None = None) -> dict[str, Any]:
    view = alert_view(a, reference)
    view["shares"] = (shares if shares is not None else shares_of(s, [a.id])).get(a.id, [])
    view["raised_clock"] = local_time(a.raised_at, settings, with_date=False)
    view["acked_clock"] = local_time(a.acknowledged_at, settings, with_date=False) if a.acknowledged_at else ""
    review_state = None
    if a.kind == EventKind.ANPR_HIT:
        event = s.get(IncidentEvent, a.event_id)
        view["hit"] = hit_view(s, event.id, event.data, settings) if event else None
    if a.kind == EventKind.CANDIDATE:
        event = s.get(IncidentEvent, a.event_id)
        c = s.get(CandidateRow, (event.data or {}).get("candidate_id")) if event else None
        review_state = c.review_state if c is not None else None
        view["candidate_id"] = c.id if c is not None else None
    view["sendable"] = can_be_sent(a.kind, review_state)
    return view


@router.get("/app/desk", response_class=HTMLResponse)
def desk(request: Request, rt: RuntimeDep, user: PageUser,
         show: Annotated[Literal["open", "handled", "all"], Query()] = "open") -> HTMLResponse:
    """The open alerts (the default), the handled ones (acknowledged, or closed by a review: a
    confirmed match is still sent to an officer from here), or all, newest first."""
    with rt.sessions() as s:
        rows = alerts_with_incident(s, open_only=show == "open", handled_only=show == "handled", limit=200)
        # Escalated and still unacknowledged first (longest escalated first), then the rest newest first.
        escalated = sorted((r for r in rows if r[0].escalated_at and not r[0].acknowledged_at),
                           key=lambda r: r[0].escalated_at or r[0].raised_at)
        first = {a.id for a, _ in escalated}
        rows = escalated + [r for r in rows if r[0].id not in first]
        shares = shares_of(s, [a.id for a, _ in rows])
        alerts = [_alert(s, a, ref, rt.settings, shares) for a, ref in rows]
        last = s.scalar(select(func.max(IncidentEvent.id)).where(IncidentEvent.kind.in_(DESK_KINDS))) or 0
        waiting = s.scalar(select(func.count(Alert.id)).where(Alert.acknowledged_at.is_(None))) or 0
    audit_read(rt.sessions, user.actor, "desk.view", "desk", detail={"show": show, "alerts": len(alerts)})
    return render(request, "desk.html", user, alerts=alerts, last_event_id=last, kinds=KINDS, show=show,
                  shows=SHOW, waiting=waiting, devices=officer_devices(rt), can_send=user.role in OPENERS,
                  escalate_min=f"{rt.settings.alert_escalate_s / 60:g}", page_title="Alert desk")


@router.get("/app/desk/alerts/{alert_id}", response_class=HTMLResponse)
def alert_card(alert_id: Id, request: Request, rt: RuntimeDep, user: PageUser) -> HTMLResponse:
    """One alert's card, for the desk's script to put in the page as the feed reports it."""
    with rt.sessions() as s:
        rows = alerts_with_incident(s, alert_id=alert_id)
        if not rows:
            raise NotFound(f"no alert {alert_id}")
        a = _alert(s, *rows[0], rt.settings)
    return render(request, "alert.html", user, a=a, kinds=KINDS, devices=officer_devices(rt),
                  can_send=user.role in OPENERS)


@router.get("/app/alerts/{alert_id}/send", response_class=HTMLResponse)
def send_page(alert_id: Id, request: Request, rt: RuntimeDep, user: Opener, sent: str = "") -> HTMLResponse:
    """Send a confirmed match or a hit to an officer from anywhere it is listed (the chronology):
    what will be sent, where it has gone already, and a plain form (no script needed)."""
    with rt.sessions() as s:
        rows = alerts_with_incident(s, alert_id=alert_id)
        if not rows:
            raise NotFound(f"no alert {alert_id}")
        a = _alert(s, *rows[0], rt.settings)
    if a["kind"] == EventKind.CANDIDATE:
        a["crop_url"] = f"/candidates/{a['candidate_id']}/crop" if a.get("candidate_id") else None
    return render(request, "alert_send.html", user, a=a, kinds=KINDS, devices=officer_devices(rt),
                  notice=f"Sending to {sent}: its state is shown below" if sent else None,
                  page_title="Send to an officer")


@router.post("/app/alerts/{alert_id}/send")
def send_form(alert_id: Id, request: Request, rt: RuntimeDep, user: Opener,
              device_id: Annotated[int, Form(ge=1, le=2**31)], note: Annotated[str, Form(max_length=1000)] = "",
              csrf_token: Annotated[str, Form()] = "") -> RedirectResponse:
    check_csrf(user, csrf_token)
    with rt.sessions() as s:
        rows = alerts_with_incident(s, alert_id=alert_id)
        if not rows or not _alert(s, *rows[0], rt.settings)["sendable"]:
            raise InvalidRequest("Only a confirmed potential match or a hotlist hit is sent to an officer")
    send_to_officer(rt, alert_id, device_id, user.actor, note.strip())
    request.app.state.sweeper.wake()
    device = next((d["name"] for d in officer_devices(rt) if d["id"] == device_id), "the officer")
    return RedirectResponse(f"/app/alerts/{alert_id}/send?{urlencode({'sent': device})}", status_code=303)


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


def _shared(request: Request, token: str, share: Any, replied: bool = False) -> HTMLResponse:
    return render(request, "share.html", None, sent=share.sent, token=token, has_image=bool(share.image_path),
                  expires=share.expires_at.strftime("%H:%M UTC on %d %B %Y"), reply=share.reply, replied=replied,
                  page_title="Alert", service_name="Alert from the control room", home_url=f"/o/{token}")


@router.get("/o/{token}", response_class=HTMLResponse)
def shared(token: Token, request: Request, rt: RuntimeDep) -> HTMLResponse:
    return _shared(request, token, open_share(rt, token))


@router.post("/o/{token}/reply", response_class=HTMLResponse)
def reply(token: Token, request: Request, rt: RuntimeDep,
          answer: Annotated[str, Form(alias="reply", max_length=16)] = "") -> HTMLResponse:
    """The officer's answer (received, attending), shown on the desk and the board at once."""
    return _shared(request, token, officer_reply(rt, token, answer), replied=True)


@router.get("/o/{token}/image")
def shared_image(token: Token, rt: RuntimeDep) -> FileResponse:
    share = open_share(rt, token)
    if not share.image_path:
        raise NotFound("This alert has no image")
    return FileResponse(rt.store.absolute(share.image_path), media_type="image/jpeg",
                        headers={"Cache-Control": "no-store"})
