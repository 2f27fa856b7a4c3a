"""Bringing footage in from the board: an upload link for a witness (a QR code, a text message
ready to copy, and sent by text message or email through GOV.UK Notify where it is set up), and a
member of staff's own upload of several files (body-worn, CCTV), each resumable."""

from __future__ import annotations

from typing import Annotated, Any

import segno
from fastapi import APIRouter, Depends, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from api.auth import OPENERS
from api.deps import RuntimeDep
from api.errors import status_of
from api.pages.common import (FieldError, PageUser, check_csrf, field_of, incident_view, render, size_text,
                              staff)
from api.params import Id
from evidence.errors import EvidenceError, InvalidRequest
from evidence.notify.govnotify import Channel, available, check_email, check_mobile
from evidence.notify.messages import upload_link_words
from evidence.runtime import Runtime
from evidence.uploads import create_link, link_of, link_sends, send_link, wait_for_delivery
from evidence.users import SessionUser

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
Opener = Annotated[SessionUser, Depends(staff(*OPENERS))]
LINK_SEND_WAIT_S = 5.0  # how long the page waits for GOV.UK Notify's answer before showing "sending"


STAFF_UPLOAD_FILES = 20  # files one staff upload may send (several cameras' footage of one incident)


@router.get("/app/incidents/{incident_id}/upload", response_class=HTMLResponse)
def staff_upload(incident_id: Id, request: Request, rt: RuntimeDep, user: PageUser) -> HTMLResponse:
    """Footage a member of staff adds (body-worn, CCTV): several files, each resumable like the
    witness page, each named as sent by them."""
    view = incident_view(rt, incident_id)
    cap = rt.settings.link_max_bytes
    return render(request, "staff_upload.html", user, incident=view, max_bytes=cap, max_size=size_text(cap),
                  max_files=STAFF_UPLOAD_FILES, page_title=f"Add footage to {view['reference']}")


@router.post("/app/incidents/{incident_id}/upload-session")
async def staff_upload_session(incident_id: Id, request: Request, rt: RuntimeDep, user: PageUser) -> dict[str, Any]:
    """Where this person's files go: a link of their own for as many files as they chose (6 hours;
    the page's CSRF token in X-CSRF-Token). JSON: {"endpoint"}."""
    check_csrf(user, request.headers.get("x-csrf-token"))
    try:
        files = int((await request.json()).get("files", 1))
    except (ValueError, AttributeError, TypeError):
        raise InvalidRequest("say how many files (1 to 20) are to be sent") from None
    if not 1 <= files <= STAFF_UPLOAD_FILES:
        raise InvalidRequest(f"Send at most {STAFF_UPLOAD_FILES} files at once")
    _, token = await run_in_threadpool(create_link, rt, incident_id, 6 * 3600, files, rt.settings.link_max_bytes,
                                       user.actor, staff=True)  # a database write: never on the event loop
    return {"endpoint": f"/public/tus/{token}"}


def _public_base(request: Request, rt: Runtime) -> str:
    return (rt.settings.public_url or str(request.base_url)).rstrip("/")


@router.post("/app/incidents/{incident_id}/upload-link", response_class=HTMLResponse)
def upload_link(incident_id: Id, request: Request, rt: RuntimeDep, user: Opener,
                csrf_token: Annotated[str, Form()] = "") -> HTMLResponse:
    check_csrf(user, csrf_token)
    view = incident_view(rt, incident_id)
    _, token = create_link(rt, incident_id, 24 * 3600, 5, rt.settings.link_max_bytes, user.actor)
    return _link_page(request, rt, user, view, token)


@router.post("/app/incidents/{incident_id}/upload-link/send", response_class=HTMLResponse)
def send_upload_link(incident_id: Id, request: Request, rt: RuntimeDep, user: Opener,
                     token: Annotated[str, Form(max_length=100)] = "", how: Annotated[str, Form(max_length=10)] = "",
                     phone: Annotated[str, Form(max_length=40)] = "", email: Annotated[str, Form(max_length=254)] = "",
                     csrf_token: Annotated[str, Form()] = "") -> HTMLResponse:
    """Send the link just made by text message or email (GOV.UK Notify), and say how it went:
    the page waits a few seconds for Notify's answer before it shows the link again."""
    check_csrf(user, csrf_token)
    view = incident_view(rt, incident_id)
    channel: Channel = "notify_sms" if how == "text" else "notify_email"
    typed = {"phone": phone, "email": email}
    try:
        if how not in ("text", "email") or channel not in available(rt.settings):
            raise InvalidRequest("Choose to send it by text message or by email")
        try:
            to = check_mobile(phone) if channel == "notify_sms" else check_email(email)
        except ValueError as exc:
            raise FieldError("phone" if channel == "notify_sms" else "email", str(exc)) from None
        delivery = send_link(rt, incident_id, token, f"{_public_base(request, rt)}/u/{token}", channel, to, user.actor)
    except EvidenceError as exc:
        return _link_page(request, rt, user, view, token, typed=typed, status_code=status_of(exc), error=exc.message,
                          field=field_of(exc))
    request.app.state.sweeper.wake()
    wait_for_delivery(rt, delivery, LINK_SEND_WAIT_S)
    return _link_page(request, rt, user, view, token)


def _link_page(request: Request, rt: Runtime, user: SessionUser, view: dict[str, Any], token: str,
               typed: dict[str, str] | None = None, status_code: int = 200, **context: Any) -> HTMLResponse:
    """The upload link just made: the text message to copy, the QR code, sending it through
    GOV.UK Notify where it is set up, and how each send went."""
    link = link_of(rt, view["id"], token)
    url = f"{_public_base(request, rt)}/u/{token}"
    before, expires = upload_link_words(rt.settings, link.expires_at)
    qr = segno.make(url, error="m").svg_inline(scale=4, title="QR code of the upload link")
    return render(request, "link.html", user, status_code=status_code, incident=view, url=url, sms=before + url,
                  expires=expires, max_uploads=link.max_uploads, max_size=size_text(link.max_bytes), qr_svg=qr,
                  token=token, channels=available(rt.settings), sends=link_sends(rt, link.id), typed=typed or {},
                  page_title="Upload link", **context)
