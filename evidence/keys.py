"""API keys and roles. A key is ``ep_`` + 32 random bytes (URL-safe); only its SHA-256 is stored,
so a leaked database does not leak keys. Every key has exactly one role."""

from __future__ import annotations

import hashlib
import secrets
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from evidence.audit import Actor, append_audit
from evidence.db.tables import ApiKey
from evidence.utc import utcnow
from evidence.states import Role
from evidence.errors import Conflict, NotFound, Unauthorized

if TYPE_CHECKING:  # the runtime's outbox needs secret_digest: no import cycle at run time
    from evidence.runtime import Runtime

__all__ = ["MAX_STREAMS", "ROLES", "authenticate", "check_streams", "create_key", "list_keys", "revoke_key",
           "secret_digest", "set_streams"]

# control_room: live incidents and reviews; investigator: search, evidence, export; admin:
# watchlists, keys, retention, audit; camera: posts ANPR reads only; uploader: uploads evidence.
ROLES = tuple(str(r) for r in Role)


def secret_digest(key: str) -> str:
    """What is stored of a secret (an API key, an upload-link token): its SHA-256."""
    return hashlib.sha256(key.encode()).hexdigest()


MAX_STREAMS = 32  # video streams one ANPR agent's key may have registered


def check_streams(streams: list[str] | None) -> list[str] | None:
    """An agent's stream ids as an administrator typed them (each up to 30 characters, no '/'),
    without repeats; Conflict past MAX_STREAMS."""
    if not streams:
        return None
    out = list(dict.fromkeys(s.strip() for s in streams if s.strip()))
    if len(out) > MAX_STREAMS:
        raise Conflict(f"an agent's key has at most {MAX_STREAMS} streams, not {len(out)}")
    bad = [s for s in out if len(s) > 30 or "/" in s or not s.isprintable()]
    if bad:
        raise Conflict(f"stream {bad[0][:40]!r}: a number or name of up to 30 characters, no '/', expected")
    return out or None


def create_key(rt: Runtime, name: str, role: str, actor: Actor, streams: list[str] | None = None) -> tuple[int, str]:
    """(key id, the key itself — shown once). ``streams``: an ANPR agent's video streams (camera
    keys only): its cameras are ``<name>/<stream>``, and no other."""
    if role not in ROLES:
        raise Conflict(f"unknown role {role!r}: one of {', '.join(ROLES)}")
    if not name.strip():
        raise Conflict("a key needs a name (whose or which camera's it is)")
    if role == "camera" and ("/" in name or len(name.strip()) > 32):
        raise Conflict("a camera key's name is the camera's id: up to 32 characters, no '/' "
                       "(an agent's cameras are named <key name>/<camera id>)")
    streams = check_streams(streams)
    if streams and role != "camera":
        raise Conflict("only a camera key (an ANPR agent's) has video streams")
    key = "ep_" + secrets.token_urlsafe(32)
    with rt.sessions.begin() as s:
        row = ApiKey(name=name.strip(), role=role, key_sha256=secret_digest(key), prefix=key[:10], created_by=actor.name,
                     streams=streams)
        s.add(row)
        s.flush()
        append_audit(s, actor, "key.create", f"key:{row.id}", detail={"name": row.name, "role": role, "streams": streams})
        return row.id, key


def set_streams(rt: Runtime, key_id: int, streams: list[str], actor: Actor) -> list[str] | None:
    """Register an ANPR agent key's video streams anew (a camera added or taken away); audited."""
    streams_ = check_streams(streams)
    with rt.sessions.begin() as s:
        row = s.get(ApiKey, key_id)
        if row is None or row.revoked_at is not None:
            raise NotFound(f"no active key {key_id}")
        if row.role != "camera":
            raise Conflict("only a camera key (an ANPR agent's) has video streams")
        was, row.streams = row.streams, streams_
        append_audit(s, actor, "key.streams", f"key:{row.id}", detail={"name": row.name, "was": was, "now": streams_})
        return streams_


def revoke_key(rt: Runtime, key_id: int, actor: Actor) -> None:
    with rt.sessions.begin() as s:
        row = s.get(ApiKey, key_id)
        if row is None:
            raise NotFound(f"key {key_id} not found")
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            append_audit(s, actor, "key.revoke", f"key:{row.id}", detail={"name": row.name, "role": row.role})


def list_keys(s: Session) -> list[ApiKey]:
    return list(s.scalars(select(ApiKey).order_by(ApiKey.id)))


def authenticate(s: Session, key: str | None) -> Actor:
    """The caller behind a bearer key; Unauthorized when missing, unknown or revoked."""
    if not key:
        raise Unauthorized("an API key is required: Authorization: Bearer <key> (evidence keys create)")
    row = s.scalar(select(ApiKey).where(ApiKey.key_sha256 == secret_digest(key)))
    if row is None or row.revoked_at is not None:
        raise Unauthorized("unknown or revoked API key")
    return Actor(row.name, row.role, tuple(row.streams or ()))
