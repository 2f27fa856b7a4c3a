"""Signing in and out, and choosing a password. Failed sign-ins slow the next attempts for that
name (a delay of at most 3 s, never a refusal that someone else could cause); an address is refused
only far past what people mistype; every sign-in, failure and sign-out is audited."""

from __future__ import annotations

import asyncio
import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from api.auth import client_address, limit_key
from api.pages.common import COOKIE, PRE_CSRF, check_csrf, landing, page_user, render, set_session_cookie
from api.ratelimit import Limits
from evidence.errors import Forbidden, InvalidRequest, TooManyRequests, Unauthorized
from evidence.runtime import Runtime
from evidence.users import change_password, end_session, keep_alive, session_user, sign_in

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


def _safe_next(value: str | None) -> str:
    """Only a path of this site, never an address elsewhere (an open redirect); else nothing."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return ""


def _signin_page(request: Request, next_url: str, error: str | None = None, name: str = "",
                 status: int = 200) -> HTMLResponse:
    token = request.cookies.get(PRE_CSRF) or secrets.token_urlsafe(32)
    response = render(request, "signin.html", None, status_code=status, csrf=token, next_url=_safe_next(next_url),
                      error=error, name=name, page_title="Sign in")
    response.set_cookie(PRE_CSRF, token, httponly=True, samesite="strict", path="/signin")
    return response


@router.get("/")
def home(request: Request) -> RedirectResponse:
    user = page_user(request)
    return RedirectResponse(landing(user.role) if user else "/signin", status_code=303)


@router.get("/signin")
def signin_form(request: Request, next: str | None = None) -> HTMLResponse:  # noqa: A002 - the query's name
    return _signin_page(request, next or "")


@router.post("/signin")
async def signin(request: Request, name: Annotated[str, Form(max_length=100)] = "",
                 password: Annotated[str, Form(max_length=1000)] = "", csrf_token: Annotated[str, Form()] = "",
                 next: Annotated[str, Form()] = "") -> Response:  # noqa: A002
    expected = request.cookies.get(PRE_CSRF)
    if not expected or not hmac.compare_digest(expected, csrf_token):
        return _signin_page(request, next, "This form has expired: try again", name, status=403)
    limits: Limits = request.app.state.limits
    address, network = client_address(request), limit_key(request)
    rt: Runtime = request.app.state.runtime
    who = " ".join(name.split()).casefold()
    try:
        limits.signin_address.check(network)
        async with limits.signin_pair.turn((who, network)):  # this name from here: one at a time, slowed
            limits.signin_address.check(network)  # again, now that it is this attempt's turn
            await asyncio.sleep(limits.signin_name.delay_s(who))  # and slowed for the name from anywhere
            try:
                token, user = await run_in_threadpool(sign_in, rt, name, password, address)
            except Unauthorized as exc:
                limits.signin_address.count(network)
                limits.signin_pair.count((who, network))
                limits.signin_name.count(who)
                return _signin_page(request, next, exc.message, name, status=401)
    except TooManyRequests as exc:
        wait_s = int(exc.retry_after_s) + 1
        page = _signin_page(request, next, f"Too many failed sign-ins from this network, or this name's are being "
                                           f"checked. Wait {wait_s} seconds and try again, or ask your administrator.",
                            name, status=429)
        page.headers["Retry-After"] = str(wait_s)
        return page
    response = RedirectResponse("/password" if user.must_change else landing(user.role, _safe_next(next)),
                                status_code=303)
    set_session_cookie(request, response, token)
    response.delete_cookie(PRE_CSRF, path="/signin")
    return response


@router.get("/app/session")
def session_left(request: Request) -> JSONResponse:
    """How long this browser's session has left, without counting as activity (the pages' timeout
    warning asks); 401 once it has ended."""
    user = session_user(request.app.state.runtime, request.cookies.get(COOKIE), touch=False)
    if user is None:
        return JSONResponse({"signed_in": False}, status_code=401, headers={"Cache-Control": "no-store"})
    return JSONResponse({"signed_in": True, "seconds_left": round(user.expires_in_s)}, headers={"Cache-Control": "no-store"})


@router.post("/app/session/extend")
def session_extend(request: Request) -> JSONResponse:
    """"Stay signed in": counts as activity (the page's CSRF token in X-CSRF-Token)."""
    rt = request.app.state.runtime
    token = request.cookies.get(COOKIE)
    user = session_user(rt, token, touch=False)
    if user is None or token is None:
        return JSONResponse({"signed_in": False}, status_code=401, headers={"Cache-Control": "no-store"})
    check_csrf(user, request.headers.get("x-csrf-token"))
    keep_alive(rt, token)
    after = session_user(rt, token, touch=False)
    return JSONResponse({"signed_in": after is not None, "seconds_left": round(after.expires_in_s) if after else 0},
                        headers={"Cache-Control": "no-store"})


@router.post("/signout")
async def signout(request: Request, csrf_token: Annotated[str, Form()] = "") -> RedirectResponse:
    user = page_user(request)
    token = request.cookies.get(COOKIE)
    if user is not None and token:
        check_csrf(user, csrf_token)
        await run_in_threadpool(end_session, request.app.state.runtime, token, user.actor)
    response = RedirectResponse("/signin", status_code=303)
    set_session_cookie(request, response, None)
    return response


@router.get("/password")
def password_form(request: Request) -> Response:
    user = page_user(request)
    if user is None:
        return RedirectResponse("/signin?next=/password", status_code=303)
    return render(request, "password.html", user, must_change=user.must_change, page_title="Choose your password")


@router.post("/password")
async def password(request: Request, current: Annotated[str, Form(max_length=1000)] = "",
                   new: Annotated[str, Form(max_length=1000)] = "", again: Annotated[str, Form(max_length=1000)] = "",
                   csrf_token: Annotated[str, Form()] = "") -> Response:
    user = page_user(request)
    if user is None:
        return RedirectResponse("/signin?next=/password", status_code=303)
    limits: Limits = request.app.state.limits
    mine = ("password", user.user_id)  # a stolen cookie guessing the current password is slowed like a sign-in
    try:
        check_csrf(user, csrf_token)
        if new != again:
            raise InvalidRequest("The two new passwords are not the same")
        async with limits.signin_pair.turn(mine):
            try:
                await run_in_threadpool(change_password, request.app.state.runtime, user.user_id, current, new,
                                        request.cookies.get(COOKIE))  # this session stays; the others end
            except InvalidRequest as exc:
                if "current password" in exc.message:
                    limits.signin_pair.count(mine)
                raise
    except TooManyRequests as exc:
        return render(request, "password.html", user, status_code=429, must_change=user.must_change,
                      error=f"Another change of this password is being checked: wait {int(exc.retry_after_s) + 1} "
                            "seconds and try again", page_title="Choose your password")
    except (InvalidRequest, Forbidden) as exc:
        return render(request, "password.html", user, status_code=422 if isinstance(exc, InvalidRequest) else 403,
                      must_change=user.must_change, error=exc.message, page_title="Choose your password")
    return RedirectResponse(landing(user.role), status_code=303)
