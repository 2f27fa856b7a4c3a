"""Administration pages: the people who sign in and their roles, cameras' and systems' API keys,
and the audit log with its verification (the watchlists are in ``api.pages.admin_watchlist``).
The hotlist is here too, for everyone who may change it (as through the API). Each change goes
through the same service as the API and the command line, audited under the signed-in name."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from api.auth import ADMINS
from api.deps import RuntimeDep
from api.errors import status_of
from api.pages.common import PageUser, check_csrf, render, staff
from api.params import Id
from evidence.anpr import add_hotlist, hotlist, remove_hotlist
from evidence.audit import audit_read, read_anchors, verify_audit
from evidence.auditwords import in_words
from evidence.db.tables import ApiKey, AuditEntry, HotlistEntry, Incident, User
from evidence.errors import EvidenceError, InvalidRequest, NotFound
from evidence.keys import create_key, list_keys, revoke_key
from evidence.runtime import Runtime
from evidence.states import ROLES, Role
from evidence.work import with_reference
from evidence.users import SessionUser, add_user, change_role, disable_user, list_users, reset_password

__all__ = ["ADMIN_NAV", "MAX_PHOTOS", "Admin", "Csrf", "Reason", "admin_page", "need_reason", "router"]

router = APIRouter(include_in_schema=False)
Admin = Annotated[SessionUser, Depends(staff(*ADMINS))]
ADMIN_NAV = (("/app/admin/users", "People"), ("/app/admin/watchlist", "Watchlists"),
             ("/app/admin/keys", "Cameras and keys"), ("/app/admin/subscriptions", "Notifications"),
             ("/app/admin/audit", "Audit log"))
PEOPLE_ROLES = (Role.CONTROL_ROOM, Role.INVESTIGATOR, Role.ADMIN, Role.AUTHORITY)  # who signs in; machines have keys
MAX_PHOTOS = 20
Reason = Annotated[str, Form(max_length=2000)]
Csrf = Annotated[str, Form(max_length=100)]


def admin_page(request: Request, template: str, user: SessionUser, status: int = 200, **context: Any) -> HTMLResponse:
    return render(request, template, user, status_code=status, admin_nav=ADMIN_NAV, **context)


Confirmed = Annotated[str, Form(max_length=5)]


def confirm_first(request: Request, user: SessionUser, confirmed: str, heading: str, what_happens: str, button: str,
                  back_url: str, **fields: str) -> HTMLResponse | None:
    """Before something that cannot be undone from this page (disabling a person, revoking a key,
    taking someone or a vehicle off a list): a page saying what will happen, whose button sends the
    same form again with ``confirmed=yes`` (GOV.UK: confirm before destroying). None once confirmed."""
    if confirmed == "yes":
        return None
    return render(request, "confirm.html", user, heading=heading, what_happens=what_happens, button=button,
                  back_url=back_url, action=request.url.path, fields=fields, page_title=heading)


def _name_of(rt: Runtime, model: type[User] | type[ApiKey], row_id: int) -> str:
    """The name of a person or key a confirmation page speaks of; NotFound if there is none."""
    with rt.sessions() as s:
        name = s.scalar(select(model.name).where(model.id == row_id))
        if name is None:
            raise NotFound(f"no {model.__tablename__.rstrip('s').replace('_', ' ')} {row_id}")
        return str(name)


def need_reason(reason: str, what: str) -> str:
    if not reason.strip():
        raise InvalidRequest(f"Give the reason for {what}: it is recorded in the audit log")
    return reason.strip()


# People ------------------------------------------------------------------------------------------

def _users(request: Request, rt: Runtime, user: SessionUser, status: int = 200, **context: Any) -> HTMLResponse:
    users = [{"id": u.id, "name": u.name, "role": u.role, "disabled": u.disabled_at is not None,
              "last_signin": u.last_signin_at.strftime("%d %b %Y %H:%M UTC") if u.last_signin_at else None}
             for u in list_users(rt)]
    return admin_page(request, "admin_users.html", user, status, users=users, roles=PEOPLE_ROLES,
                 page_title="People who sign in", **context)


@router.get("/app/admin/users", response_class=HTMLResponse)
def users(request: Request, rt: RuntimeDep, user: Admin) -> HTMLResponse:
    return _users(request, rt, user)


@router.post("/app/admin/users", response_class=HTMLResponse)
def users_add(request: Request, rt: RuntimeDep, user: Admin, name: Annotated[str, Form(max_length=100)] = "",
              role: Annotated[str, Form(max_length=32)] = "", csrf_token: Csrf = "") -> HTMLResponse:
    check_csrf(user, csrf_token)
    try:
        if role not in PEOPLE_ROLES:
            raise InvalidRequest("Choose a role for a person: control room, investigator, admin or authority")
        added, password = add_user(rt, name, role, user.actor)
    except EvidenceError as exc:
        return _users(request, rt, user, status_of(exc), error=exc.message)
    return _users(request, rt, user, one_time={"name": added.name, "password": password})


@router.post("/app/admin/users/{user_id}/role", response_class=HTMLResponse)
def users_role(user_id: Id, request: Request, rt: RuntimeDep, user: Admin, role: Annotated[str, Form(max_length=32)] = "",
               csrf_token: Csrf = "") -> HTMLResponse:
    check_csrf(user, csrf_token)
    try:
        if role not in PEOPLE_ROLES:
            raise InvalidRequest("Choose a role for a person: control room, investigator, admin or authority")
        name = change_role(rt, user_id, role, user.actor)
    except EvidenceError as exc:
        return _users(request, rt, user, status_of(exc), error=exc.message)
    return _users(request, rt, user, notice=f"{name} is now {role.replace('_', ' ')}: from their next page on")


@router.post("/app/admin/users/{user_id}/reset", response_class=HTMLResponse)
def users_reset(user_id: Id, request: Request, rt: RuntimeDep, user: Admin, csrf_token: Csrf = "",
                confirmed: Confirmed = "") -> HTMLResponse:
    """A new one-time password (after a confirmation: the person is signed out everywhere)."""
    check_csrf(user, csrf_token)
    name = _name_of(rt, User, user_id)
    if page := confirm_first(request, user, confirmed, f"Reset {name}'s password?", f"{name} is signed out everywhere "
                             "at once, and signs in next with a one-time password you give them in person.",
                             f"Reset {name}'s password", "/app/admin/users"):
        return page
    try:
        name, password = reset_password(rt, user_id, user.actor)
    except EvidenceError as exc:
        return _users(request, rt, user, status_of(exc), error=exc.message)
    return _users(request, rt, user, one_time={"name": name, "password": password, "reset": True})


@router.post("/app/admin/users/{user_id}/disable", response_model=None)
def users_disable(user_id: Id, request: Request, rt: RuntimeDep, user: Admin, csrf_token: Csrf = "",
                  confirmed: Confirmed = "") -> Response:
    check_csrf(user, csrf_token)
    if user_id == user.user_id:
        raise InvalidRequest("You cannot disable your own account: ask another administrator")
    name = _name_of(rt, User, user_id)
    if page := confirm_first(request, user, confirmed, f"Disable {name}?", f"{name} will be signed out everywhere at "
                             "once and cannot sign in until an administrator adds them again.", f"Disable {name}",
                             "/app/admin/users"):
        return page
    disable_user(rt, user_id, user.actor)
    return RedirectResponse("/app/admin/users", status_code=303)


# Hotlist (everyone who may change it) ------------------------------------------------------------

def _hotlist(request: Request, rt: Runtime, user: SessionUser, status: int = 200, **context: Any) -> HTMLResponse:
    with rt.sessions() as s:
        entries = [{"id": e.id, "vrm": e.vrm, "category": e.category, "reason": e.reason, "added_by": e.added_by}
                   for e in hotlist(s)]
    return render(request, "admin_hotlist.html", user, status_code=status, entries=entries, page_title="Hotlist",
                  **context)


@router.get("/app/hotlist", response_class=HTMLResponse)
def hotlist_page(request: Request, rt: RuntimeDep, user: PageUser) -> HTMLResponse:
    return _hotlist(request, rt, user)


@router.post("/app/hotlist", response_class=HTMLResponse)
def hotlist_add(request: Request, rt: RuntimeDep, user: PageUser, vrm: Annotated[str, Form(max_length=20)] = "",
                category: Annotated[str, Form(max_length=32)] = "", reason: Reason = "",
                incident: Annotated[str, Form(max_length=64)] = "", csrf_token: Csrf = "") -> HTMLResponse:
    check_csrf(user, csrf_token)
    try:
        if not category.strip():
            raise InvalidRequest("Give a category, for example wanted or stolen")
        incident_id = None
        if incident.strip():
            with rt.sessions() as s:
                incident_id = s.scalar(select(Incident.id).where(with_reference(incident)))
            if incident_id is None:
                raise InvalidRequest(f"There is no incident {incident.strip()}")
        entry = add_hotlist(rt, vrm, need_reason(reason, "adding a vehicle"), category.strip(), incident_id, None,
                            user.actor)
    except EvidenceError as exc:
        return _hotlist(request, rt, user, status_of(exc), error=exc.message)
    return _hotlist(request, rt, user, notice=f"{entry.vrm} is on the hotlist")


@router.post("/app/hotlist/{entry_id}/remove", response_class=HTMLResponse)
def hotlist_remove(entry_id: Id, request: Request, rt: RuntimeDep, user: PageUser, reason: Reason = "",
                   csrf_token: Csrf = "", confirmed: Confirmed = "") -> HTMLResponse:
    check_csrf(user, csrf_token)
    try:
        why = need_reason(reason, "taking a vehicle off")
        with rt.sessions() as s:
            entry = s.get(HotlistEntry, entry_id)
            vrm = entry.vrm if entry else str(entry_id)
        if page := confirm_first(request, user, confirmed, f"Take {vrm} off the hotlist?", f"Cameras stop raising "
                                 f"hits on {vrm} at once. Your reason: {why}", f"Take {vrm} off", "/app/hotlist",
                                 reason=why):
            return page
        remove_hotlist(rt, entry_id, user.actor, why)
    except EvidenceError as exc:
        return _hotlist(request, rt, user, status_of(exc), error=exc.message)
    return _hotlist(request, rt, user, notice="Taken off the hotlist")


# Keys --------------------------------------------------------------------------------------------

def _keys(request: Request, rt: Runtime, user: SessionUser, status: int = 200, **context: Any) -> HTMLResponse:
    with rt.sessions() as s:
        keys = [{"id": k.id, "name": k.name, "role": k.role, "prefix": k.prefix, "revoked_at": k.revoked_at}
                for k in list_keys(s)]
    return admin_page(request, "admin_keys.html", user, status, keys=keys, roles=ROLES, page_title="Cameras and keys",
                 **context)


@router.get("/app/admin/keys", response_class=HTMLResponse)
def keys(request: Request, rt: RuntimeDep, user: Admin) -> HTMLResponse:
    return _keys(request, rt, user)


@router.post("/app/admin/keys", response_class=HTMLResponse)
def keys_create(request: Request, rt: RuntimeDep, user: Admin, name: Annotated[str, Form(max_length=100)] = "",
                role: Annotated[str, Form(max_length=32)] = "", streams: Annotated[str, Form(max_length=2000)] = "",
                csrf_token: Csrf = "") -> HTMLResponse:
    check_csrf(user, csrf_token)
    try:
        _, key = create_key(rt, name, role, user.actor, streams.replace(",", " ").split())
    except EvidenceError as exc:
        return _keys(request, rt, user, status_of(exc), error=exc.message)
    return _keys(request, rt, user, new_key={"name": name.strip(), "key": key})


@router.post("/app/admin/keys/{key_id}/revoke", response_model=None)
def keys_revoke(key_id: Id, request: Request, rt: RuntimeDep, user: Admin, csrf_token: Csrf = "",
                confirmed: Confirmed = "") -> Response:
    check_csrf(user, csrf_token)
    name = _name_of(rt, ApiKey, key_id)
    if page := confirm_first(request, user, confirmed, f"Revoke the key {name}?", f"Everything using {name} (a camera, "
                             "a system) is refused from now on; a new key must be made and "
                             "installed to carry on.", f"Revoke {name}", "/app/admin/keys"):
        return page
    revoke_key(rt, key_id, user.actor)
    return RedirectResponse("/app/admin/keys", status_code=303)


# Audit -------------------------------------------------------------------------------------------

@router.get("/app/admin/audit", response_class=HTMLResponse)
def audit(request: Request, rt: RuntimeDep, user: Admin, who: Annotated[str, Query(max_length=100)] = "",
          verify: Annotated[str, Query(max_length=5)] = "") -> Response:
    check, anchors = None, 0
    if verify:
        path = rt.settings.audit_anchors_file
        try:
            pinned = read_anchors(path) if path.is_file() else []
        except ValueError as exc:
            raise InvalidRequest(str(exc)) from exc
        with rt.sessions() as s:
            check = verify_audit(s, pinned)
        anchors = len(pinned)
    with rt.sessions() as s:
        q = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(200)
        if who.strip():
            q = q.where(AuditEntry.actor == who.strip())
        entries = [{"at": e.at.strftime("%Y-%m-%d %H:%M:%S"), "actor": e.actor, "role": e.role, "action": e.action,
                    "target": e.target, "reason": e.reason} for e in s.scalars(q)]
        in_words(s, entries)
    audit_read(rt.sessions, user.actor, "audit.view", "audit_log",
               detail={"who": who.strip() or None, "verified": check.ok if check else None})
    return admin_page(request, "admin_audit.html", user, entries=entries, who=who, check=check, anchors=anchors,
                 page_title="Audit log")
