"""People who sign in to the pages as themselves (machines keep API keys). An administrator adds
a person with a one-time password; at first sign-in they choose their own. Passwords are kept as
argon2id hashes (argon2-cffi); a session is a random token of which only the SHA-256 is kept, with
a CSRF token, an idle timeout and an absolute lifetime. Every sign-in, failed sign-in, sign-out
and change is audited; every action taken in a session is audited under the person's name."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from evidence.audit import Actor, append_audit
from evidence.db import rows_changed
from evidence.db.tables import ApiKey, User, WebSession
from evidence.errors import Conflict, InvalidRequest, NotFound, Unauthorized
from evidence.keys import secret_digest
from evidence.runtime import Runtime
from evidence.states import Role
from evidence.utc import utcnow

__all__ = ["MIN_PASSWORD", "SessionUser", "add_user", "change_password", "check_password", "change_role", "disable_user", "keep_alive", "reset_password",
           "end_session", "list_users", "no_admin_yet", "session_user", "sign_in"]

MIN_PASSWORD = 12
_hasher = PasswordHasher()
# Verifying against this when the name is unknown costs what a real check costs: no timing oracle.
_DUMMY = _hasher.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class SessionUser:
    """Who a session belongs to, as the pages and the API see them."""

    user_id: int
    name: str
    role: str
    csrf: str
    must_change: bool
    expires_in_s: float = 0.0  # until the session ends if nothing more is done (idle, or the shift's limit)

    @property
    def actor(self) -> Actor:
        return Actor(self.name, self.role)


def add_user(rt: Runtime, name: str, role: str, actor: Actor) -> tuple[User, str]:
    """(the account, its one-time password — shown once, changed at first sign-in)."""
    name = " ".join(name.split())
    if role not in tuple(Role):
        raise InvalidRequest(f"unknown role {role!r}: one of {', '.join(Role)}")
    if not name or len(name) > 100 or not name.isprintable():
        raise InvalidRequest("a person needs a name of at most 100 printable characters (for example PC 1234 Smith)")
    password = secrets.token_urlsafe(12)
    with rt.sessions.begin() as s:
        if s.scalar(select(User.id).where(func.lower(User.name) == name.lower())) is not None:
            raise Conflict(f"someone is already called {name!r}: names must tell people apart")
        user = User(name=name, role=role, password_hash=_hasher.hash(password), must_change=True,
                    created_by=actor.name)
        s.add(user)
        s.flush()
        append_audit(s, actor, "user.add", f"user:{user.id}", detail={"name": name, "role": role})
        return user, password


def list_users(rt: Runtime) -> list[User]:
    with rt.sessions() as s:
        return list(s.scalars(select(User).order_by(User.name)))


def disable_user(rt: Runtime, user_id: int, actor: Actor) -> None:
    """The account can no longer sign in, and its sessions end now."""
    with rt.sessions.begin() as s:
        user = s.get(User, user_id)
        if user is None:
            raise NotFound(f"user {user_id} not found")
        if user.disabled_at is None:
            user.disabled_at = utcnow()
            s.execute(update(WebSession).where(WebSession.user_id == user_id, WebSession.ended_at.is_(None))
                      .values(ended_at=utcnow()))
            append_audit(s, actor, "user.disable", f"user:{user_id}", detail={"name": user.name})


def change_role(rt: Runtime, user_id: int, role: str, actor: Actor) -> str:
    """Give the person another role (from their next page on: roles are read at every request);
    their name. Not one's own (another administrator does it)."""
    if role not in tuple(Role):
        raise InvalidRequest(f"unknown role {role!r}: one of {', '.join(Role)}")
    with rt.sessions.begin() as s:
        user = s.get(User, user_id)
        if user is None:
            raise NotFound(f"user {user_id} not found")
        if user.name == actor.name:
            raise InvalidRequest("You cannot change your own role: ask another administrator")
        if user.role != role:
            append_audit(s, actor, "user.role", f"user:{user_id}", detail={"name": user.name, "from": user.role,
                                                                           "to": role})
            user.role = role
        return user.name


def reset_password(rt: Runtime, user_id: int, actor: Actor) -> tuple[str, str]:
    """A new one-time password for someone who forgot theirs: (their name, the password — shown
    once, changed at the next sign-in); every session they have ends now."""
    password = secrets.token_urlsafe(12)
    with rt.sessions.begin() as s:
        user = s.get(User, user_id)
        if user is None or user.disabled_at is not None:
            raise NotFound(f"no active user {user_id}")
        user.password_hash, user.must_change = _hasher.hash(password), True
        s.execute(update(WebSession).where(WebSession.user_id == user_id, WebSession.ended_at.is_(None))
                  .values(ended_at=utcnow()))
        append_audit(s, actor, "user.reset_password", f"user:{user_id}", detail={"name": user.name})
        return user.name, password


def sign_in(rt: Runtime, name: str, password: str, address: str) -> tuple[str, SessionUser]:
    """(the session token for the cookie, who signed in); Unauthorized with one message whatever
    was wrong (an unknown name, a wrong password, a disabled account)."""
    with rt.sessions.begin() as s:
        user = _verified(s, name, password, address)
        if user is not None:
            return _open_session(s, user, address)
    raise Unauthorized("That name and password do not match an account that can sign in")


def _verified(s: Session, name: str, password: str, address: str, changed: bool = False) -> User | None:
    """The active account with this name and password (with ``changed``, one whose one-time
    password has been replaced), or None with the failure audited (recorded, and refused once the
    caller's transaction has committed). An unknown name costs what a real check costs."""
    name = " ".join(name.split())
    user = s.scalar(select(User).where(User.name == name))
    try:
        _hasher.verify(user.password_hash if user else _DUMMY, password)
        ok = user is not None and user.disabled_at is None and not (changed and user.must_change)
    except (VerificationError, InvalidHashError):
        ok = False
    if ok:
        return user
    append_audit(s, Actor(name[:100] or "?", "unknown"), "user.signin_failed", f"user:{user.id if user else '?'}",
                 detail={"address": address})
    return None


def check_password(rt: Runtime, name: str, password: str, via: str) -> Actor:
    """The person whose name and password these are (the command line's credential), or
    Unauthorized with one message whatever was wrong; a failure is audited like a sign-in's."""
    with rt.sessions.begin() as s:
        user = _verified(s, name, password, via, changed=True)
        if user is not None:
            return Actor(user.name, user.role)
    raise Unauthorized("That name and password do not match an account that can act (a one-time password must "
                       "be changed at first sign-in on the pages first)")


def no_admin_yet(s: Session) -> bool:
    """No active administrator (person or key) exists: a new database, or one upgraded from before
    the command line needed a credential, whose first administrator is being set up."""
    return (s.scalar(select(User.id).where(User.role == Role.ADMIN, User.disabled_at.is_(None)).limit(1)) is None
            and s.scalar(select(ApiKey.id).where(ApiKey.role == Role.ADMIN, ApiKey.revoked_at.is_(None)).limit(1)) is None)


def _open_session(s: Session, user: User, address: str) -> tuple[str, SessionUser]:
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    s.add(WebSession(id=secret_digest(token), user_id=user.id, csrf=csrf, seen_at=utcnow(), address=address[:64]))
    user.last_signin_at = utcnow()
    append_audit(s, Actor(user.name, user.role), "user.signin", f"user:{user.id}", detail={"address": address})
    return token, SessionUser(user.id, user.name, user.role, csrf, user.must_change)


def session_user(rt: Runtime, token: str | None, touch: bool = True) -> SessionUser | None:
    """Who holds this session token, or None (no such session, ended, idle too long, too old, or
    the account disabled). Activity is written at most once a minute; ``touch=False`` only looks
    (a page asking how long it has left is not activity)."""
    if not token:
        return None
    now = utcnow()
    idle, life = timedelta(minutes=rt.settings.session_idle_min), timedelta(hours=rt.settings.session_max_hours)
    with rt.sessions() as s:
        row = s.get(WebSession, secret_digest(token))
        user = s.get(User, row.user_id) if row else None
        if (row is None or user is None or row.ended_at is not None or user.disabled_at is not None
                or now - row.seen_at > idle or now - row.created_at > life):
            return None
        stale = touch and now - row.seen_at > timedelta(seconds=60)
        ends = min((now if stale else row.seen_at) + idle, row.created_at + life)
        who = SessionUser(user.id, user.name, user.role, row.csrf, user.must_change, (ends - now).total_seconds())
    if stale:
        with rt.sessions.begin() as s:
            s.execute(update(WebSession).where(WebSession.id == secret_digest(token)).values(seen_at=now))
    return who


def keep_alive(rt: Runtime, token: str) -> None:
    """The person asked to stay signed in: activity now (a session already ended stays ended)."""
    with rt.sessions.begin() as s:
        s.execute(update(WebSession).where(WebSession.id == secret_digest(token), WebSession.ended_at.is_(None))
                  .values(seen_at=utcnow()))


def end_session(rt: Runtime, token: str, actor: Actor) -> None:
    with rt.sessions.begin() as s:
        row = s.get(WebSession, secret_digest(token))
        if row is not None and row.ended_at is None:
            row.ended_at = utcnow()
            append_audit(s, actor, "user.signout", f"user:{row.user_id}")


def change_password(rt: Runtime, user_id: int, current: str, new: str, keep_session: str | None = None) -> None:
    """InvalidRequest unless ``current`` is right and ``new`` is long enough and different. The
    person's other sessions end (someone who had the old password is signed out everywhere);
    ``keep_session`` (the token of the session it was changed from) stays."""
    if len(new) < MIN_PASSWORD:
        raise InvalidRequest(f"Choose a password of at least {MIN_PASSWORD} characters")
    with rt.sessions.begin() as s:
        user = s.get(User, user_id)
        if user is None:
            raise NotFound(f"user {user_id} not found")
        try:
            _hasher.verify(user.password_hash, current)
        except (VerificationError, InvalidHashError) as exc:
            raise InvalidRequest("Your current password is not right") from exc
        if new == current:
            raise InvalidRequest("Choose a password different from the one-time password")
        user.password_hash, user.must_change = _hasher.hash(new), False
        others = update(WebSession).where(WebSession.user_id == user_id, WebSession.ended_at.is_(None))
        if keep_session:
            others = others.where(WebSession.id != secret_digest(keep_session))
        ended = rows_changed(s.execute(others.values(ended_at=utcnow()).execution_options(synchronize_session=False)))
        append_audit(s, Actor(user.name, user.role), "user.password", f"user:{user_id}",
                     detail={"sessions_ended": ended})
