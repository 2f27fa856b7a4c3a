"""What every page shares: the signed-in person (a session cookie), their role checked like the
API's, the CSRF token every form and script sends back, and rendering with the navigation."""

from __future__ import annotations

import hmac
from datetime import UTC, date, datetime, time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from api.auth import ADMINS, READERS, SESSION_COOKIE, person_acting
from evidence.states import Role
from evidence import __version__
from evidence.db.tables import Incident
from evidence.eventkinds import EventKind, for_pages
from evidence.errors import Forbidden, InvalidRequest, NotFound
from evidence.notify.subscriptions import list_subscriptions
from evidence.runtime import Runtime
from evidence.settings import Settings
from evidence.users import SessionUser, session_user

__all__ = ["COOKIE", "FieldError", "PageErrors", "day_starts", "field_of", "incident_view", "local_time", "typed_date", "PageUser", "SecurityHeaders", "SignInNeeded", "check_csrf", "clock", "officer_devices",
           "install_page_handlers", "landing", "page_user", "render", "set_session_cookie", "size_text", "staff", "templates", "watch_url"]

COOKIE = SESSION_COOKIE
PRE_CSRF = "ep_signin_csrf"  # the sign-in form's CSRF token, before there is a session
templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent.parent / "templates"))
templates.env.trim_blocks = templates.env.lstrip_blocks = True  # a board of 500 cards: no indentation sent
# The event catalogue, one place for every page: kinds by name (K.CANDIDATE) in templates, and the
# kinds, wording and timeline served to the live pages' scripts (live.js reads the ep-events block).
templates.env.globals["K"] = EventKind
templates.env.globals["event_catalogue"] = for_pages()


def _seen_with(url: str, seen: int | None) -> str:
    """An image's address as a page shows it: with the audit entry of the page's view (``?seen=``),
    so that fetching it is part of that audited view, not a view of its own."""
    return url if not seen else f"{url}{'&' if '?' in url else '?'}seen={seen}"


templates.env.filters["seen_with"] = _seen_with
NAV = (("/app/desk", "Alert desk", READERS), ("/app/incidents", "Incidents", READERS), ("/app/search/faces", "Face search", READERS),
       ("/app/search/plates", "Plate search", READERS), ("/app/anpr/access", "Older reads", (*READERS, Role.AUTHORITY)),
       ("/app/hotlist", "Hotlist", READERS), ("/app/admin/users", "Admin", ADMINS))


def landing(role: str, asked_for: str = "") -> str:
    """Where a person goes after signing in: the page they asked for, else where they start (the
    incidents; for the authority role the requests it decides, its only page)."""
    start = "/app/anpr/access" if role == Role.AUTHORITY else "/app/incidents"
    if asked_for and (role != Role.AUTHORITY or asked_for.startswith(start)):
        return asked_for
    return start


class SignInNeeded(Exception):
    """No session (or it ended): to the sign-in page, and back here after."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


class PasswordChangeNeeded(Exception):
    """Signed in with a one-time password: choose one first."""


def _runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


def page_user(request: Request) -> SessionUser | None:
    return session_user(_runtime(request), request.cookies.get(COOKIE), touch=person_acting(request))


def _back_to(request: Request) -> str:
    """Where signing in returns to: this page; for a form sent after the session ended, the page the
    form was on (its address is where the form posts, which a browser cannot open)."""
    if request.method == "GET":
        return str(request.url.path) + (f"?{request.url.query}" if request.url.query else "")
    came_from = urlsplit(request.headers.get("referer", ""))
    if came_from.netloc == request.url.netloc and came_from.path.startswith("/app/"):
        return came_from.path + (f"?{came_from.query}" if came_from.query else "")
    return "/"


def staff(*roles: Role) -> Callable[..., SessionUser]:
    """A page dependency: the signed-in person, if their role is one of ``roles``."""

    def signed_in(request: Request) -> SessionUser:
        user = page_user(request)
        if user is None:
            raise SignInNeeded(_back_to(request))
        if user.must_change:
            raise PasswordChangeNeeded()
        if user.role not in roles:
            raise Forbidden(f"Your role ({user.role.replace('_', ' ')}) cannot use this page")
        return user

    return signed_in


PageUser = Annotated[SessionUser, Depends(staff(*READERS))]


class FieldError(InvalidRequest):
    """What a person must correct in one field of a form: the page links to that field from its
    error summary and says what is wrong beside it (``field`` is the field's id)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def field_of(exc: Exception) -> str:
    """The field a refusal is about, for the page to mark ("" for the form as a whole)."""
    return exc.field if isinstance(exc, FieldError) else ""


def typed_date(form: dict[str, str], field: str, what: str) -> date | None:
    """A GOV.UK date input (FIELD-day, -month, -year); None when left empty; FieldError saying
    what is wrong otherwise."""
    parts = [form.get(f"{field}-{p}", "").strip() for p in ("day", "month", "year")]
    if not any(parts):
        return None
    missing = [n for n, v in zip(("a day", "a month", "a year"), parts, strict=True) if not v]
    if missing:
        raise FieldError(f"{field}-day", f"{what} must include {' and '.join(missing)}")
    if not all(p.isdigit() for p in parts) or len(parts[2]) != 4 or not 1900 <= int(parts[2]) <= 2999:
        raise FieldError(f"{field}-day", f"{what} must be a real date, for example 27 3 2026")
    try:
        return date(int(parts[2]), int(parts[1]), int(parts[0]))
    except ValueError:
        raise FieldError(f"{field}-day", f"{what} must be a real date, for example 27 3 2026") from None


def day_starts(day: date, zone: Any) -> datetime:
    """When ``day`` begins in the force's time zone, in UTC."""
    return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)


def check_csrf(user: SessionUser, token: str | None) -> None:
    """Forbidden unless a form or script sent back this session's CSRF token."""
    if not token or not hmac.compare_digest(token, user.csrf):
        raise Forbidden("This form has expired or did not come from this site: go back, reload the page and try again")


def officer_devices(rt: Runtime) -> list[dict[str, Any]]:
    """The officers' devices an alert can be sent to (not those stopped)."""
    return [{"id": d.id, "name": d.name} for d in list_subscriptions(rt, "device") if d.state != "stopped"]


def render(request: Request, template: str, user: SessionUser | None, status_code: int = 200,
           **context: Any) -> HTMLResponse:
    ctx = {"user": user, "csrf": user.csrf if user else context.pop("csrf", None), "nav": NAV,
           "version": __version__, "active": request.url.path, **context}
    return templates.TemplateResponse(request, template, ctx, status_code=status_code)


def set_session_cookie(request: Request, response: Response, token: str | None) -> None:
    secure = request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"
    if token is None:
        response.delete_cookie(COOKIE, path="/")
        return
    response.set_cookie(COOKIE, token, httponly=True, samesite="lax", secure=secure, path="/")


def install_page_handlers(app: FastAPI) -> None:
    """Signed-out and must-change-password visitors are sent where they need to go; an error on a
    page is a page, not JSON."""

    @app.exception_handler(SignInNeeded)
    async def to_sign_in(_: Request, exc: SignInNeeded) -> RedirectResponse:
        return RedirectResponse(f"/signin?next={quote(exc.next_url)}", status_code=303)

    @app.exception_handler(PasswordChangeNeeded)
    async def to_password(_: Request, __: PasswordChangeNeeded) -> RedirectResponse:
        return RedirectResponse("/password", status_code=303)


PAGE_PATHS = ("/app/", "/signin", "/signout", "/password", "/u/", "/s/", "/o/")


class PageErrors:
    """Errors on the pages' paths shown as a page, in plain words (``api.errors.PageErrors``)."""

    def handles(self, request: Request) -> bool:
        path = request.url.path
        return path == "/" or path.startswith(PAGE_PATHS)

    def render(self, request: Request, status: int, message: str) -> Response:
        heading = {401: "Sign in again", 403: "You cannot do this", 404: "Page not found",
                   410: "This link no longer works", 413: "That file is too big",
                   429: "Too many attempts"}.get(status, "There is a problem")
        witness = request.url.path.startswith(("/u/", "/s/", "/o/"))
        user = None if witness else page_user(request)
        return render(request, "error.html", user, status_code=status, heading=heading, message=message,
                      page_title=heading, back_url=None if witness else landing(user.role) if user else "/app/incidents")


def incident_view(rt: Runtime, incident_id: int) -> dict[str, Any]:
    """An incident's number and reference, for a page about it; NotFound if there is none."""
    with rt.sessions() as s:
        incident = s.get(Incident, incident_id)
        if incident is None:
            raise NotFound(f"incident {incident_id} not found")
        return {"id": incident.id, "reference": incident.reference}


def local_time(at: datetime | str | None, settings: Settings, with_date: bool = True) -> str:
    """An instant as the control room reads it, in the force's time zone: "21:07:04 GMT, 7 December 2026"."""
    if at is None or at == "":
        return ""
    when = datetime.fromisoformat(at) if isinstance(at, str) else at
    there = when.astimezone(settings.zone)
    text = f"{there:%H:%M:%S} {there.tzname()}"
    return f"{text}, {there.day} {there:%B %Y}" if with_date else text


def clock(t_s: float) -> str:
    """A time in the clip as people read it: 1:05."""
    return f"{int(t_s // 60)}:{int(t_s % 60):02d}"


def size_text(n_bytes: int) -> str:
    """A size as people read it (the witness page's script says it the same way)."""
    if n_bytes >= 2**30:
        return f"{n_bytes / 2**30:.1f} GB"
    return f"{n_bytes // 2**20} MB" if n_bytes >= 2**20 else f"{n_bytes // 1024} kB"


def watch_url(evidence_id: int, t_s: float, box: list[float] | None, what: str) -> str:
    b = ",".join(f"{v:.0f}" for v in box) if box else ""
    return f"/app/evidence/{evidence_id}/watch?t={t_s:.2f}&box={b}&what={what}"


CSP = ("default-src 'self'; img-src 'self' data:{tiles}; media-src 'self'; style-src 'self'; script-src 'self'; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")


class SecurityHeaders:
    """Every response: no MIME sniffing; pages: a strict Content-Security-Policy (only this
    site's own scripts and styles, never framed), and no Referer at all from the witness page,
    whose address holds the link's token."""

    def __init__(self, app: Any, map_tiles: str | None = None) -> None:
        self.app = app
        origin = urlsplit(map_tiles) if map_tiles else None  # the force's tile server: the maps' images
        self.csp = CSP.format(tiles=f" {origin.scheme}://{origin.netloc}" if origin else "").encode()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        witness = scope["path"].startswith(("/u/", "/public/", "/s/", "/o/"))  # tokens in the address

        async def with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-content-type-options", b"nosniff"))
                headers.append((b"referrer-policy", b"no-referrer" if witness else b"same-origin"))
                if any(k == b"content-type" and v.startswith(b"text/html") for k, v in headers):
                    headers.append((b"content-security-policy", self.csp))
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
