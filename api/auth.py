"""Who may call what: every route declares its roles with ``allow(...)``, from the role sets named
here. A missing, unknown or revoked key is 401; a valid key whose role is not listed is 403.
Failed authentication is counted per client address: past the limit, its failures get 429 (with
``Retry-After``) instead of 401. A valid key is never refused by that limit, so one misconfigured
client behind a control room's shared address cannot lock its colleagues out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import hmac
import ipaddress
import logging

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.ratelimit import Limits
from evidence.audit import Actor
from evidence.errors import Forbidden, Unauthorized
from evidence.keys import authenticate
from evidence.states import ADMINS, CAMERAS, EXPORTERS, OPENERS, READERS, REVIEWERS, UPLOADERS, Role
from evidence.users import session_user

__all__ = ["ADMINS", "CAMERAS", "EXPORTERS", "OPENERS", "READERS", "REVIEWERS", "SESSION_COOKIE", "UPLOADERS", "allow", "limit_key",
           "person_acting", "still_allowed",
           "client_address"]


SESSION_COOKIE = "ep_session"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
log = logging.getLogger(__name__)
_bearer = HTTPBearer(auto_error=False, description="an API key from `evidence keys create --role ROLE --name NAME`")


REFRESH_HEADER = "x-ep-refresh"


def person_acting(request: Request) -> bool:
    """Whether this request is the person's doing (activity that keeps their session), not their
    page refreshing itself — a card redrawn because an event arrived, an export's progress asked
    (the pages' scripts send ``X-EP-Refresh``). An unattended screen still signs out when idle,
    however busy its feed."""
    return REFRESH_HEADER not in request.headers


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def limit_key(request: Request) -> str:
    """Whom a limit counts: the client's address, an IPv6 one by its /64 (one subscriber's network:
    its 2^64 addresses would otherwise each be a fresh count)."""
    address = client_address(request)
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip.ipv4_mapped or ip) if isinstance(ip, ipaddress.IPv6Address) else address


def allow(*roles: Role) -> Callable[..., Actor]:
    """A dependency giving the calling Actor if its role is one of ``roles``."""

    def caller(request: Request, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Actor:
        try:
            if creds is None and request.cookies.get(SESSION_COOKIE):
                actor = _session_actor(request)
            else:
                with request.app.state.runtime.sessions() as s:
                    actor = authenticate(s, creds.credentials if creds else None)
        except Unauthorized:
            limits: Limits = request.app.state.limits
            limits.auth_failures.hit(limit_key(request))  # 429 once over the limit
            raise
        if actor.role not in roles:
            raise Forbidden(f"role {actor.role} may not call this (allowed: {', '.join(roles)})")
        return actor

    caller.roles = roles  # type: ignore[attr-defined]  # read by the role-matrix test and the docs
    return caller


def still_allowed(request: Request, roles: tuple[Role, ...]) -> Callable[[], bool]:
    """For a long answer (a live feed): whether the credential that opened it still holds — the key
    not revoked, the session not ended, idle or the account disabled, the role still allowed.
    Asked again every few seconds; it looks without counting as activity or as a failed sign-in."""
    rt = request.app.state.runtime
    cookie = request.cookies.get(SESSION_COOKIE)
    header = request.headers.get("authorization", "")
    key = header[7:].strip() if header[:7].lower() == "bearer " else None

    def check() -> bool:
        try:
            if key is None and cookie:
                user = session_user(rt, cookie, touch=False)
                return user is not None and user.role in roles
            with rt.sessions() as s:
                return authenticate(s, key).role in roles
        except (Unauthorized, Forbidden):
            return False
        except Exception:  # noqa: BLE001 - the database cannot say: the stream ends, the client reconnects
            log.warning("could not re-check an open stream's credential", exc_info=True)
            return False

    return check


def _session_actor(request: Request) -> Actor:
    """The signed-in person behind a session cookie (Unauthorized if it ended or idled out)."""
    user = session_user(request.app.state.runtime, request.cookies.get(SESSION_COOKIE), touch=person_acting(request))
    if user is None:
        raise Unauthorized("your session has ended: sign in again")
    if user.must_change:
        raise Forbidden("choose your own password first (/password)")
    if request.method not in SAFE_METHODS:
        sent = request.headers.get("x-csrf-token", "")
        if not sent or not hmac.compare_digest(sent, user.csrf):
            raise Forbidden("missing or wrong X-CSRF-Token: reload the page and try again")
    return user.actor
