"""Append-only audit log with a hash chain: each entry's hash covers its fields and the previous
entry's hash, so an edited or deleted row breaks the chain at that point."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from evidence.db.tables import AuditEntry, utcnow

__all__ = ["Actor", "append_audit", "utc_naive", "verify_audit"]

GENESIS = "0" * 64


@dataclass(frozen=True)
class Actor:
    name: str
    role: str


def utc_naive(at: datetime) -> datetime:
    # SQLite hands back naive datetimes, PostgreSQL aware ones: hash both as naive UTC.
    return at if at.tzinfo is None else at.astimezone(UTC).replace(tzinfo=None)


def _digest(prev: str, e: AuditEntry) -> str:
    body = json.dumps([prev, utc_naive(e.at).isoformat(timespec="microseconds"), e.actor, e.role,
                       e.action, e.target, e.reason, e.detail], sort_keys=True, default=str)
    return hashlib.sha256(body.encode()).hexdigest()


def append_audit(session: Session, actor: Actor, action: str, target: str, reason: str | None = None,
                 detail: dict[str, Any] | None = None) -> AuditEntry:
    """Add an entry in the caller's transaction (it commits with the action it records)."""
    last = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(1).with_for_update()).first()
    prev = last.hash if last else GENESIS
    entry = AuditEntry(at=utcnow(), actor=actor.name, role=actor.role, action=action,
                       target=target, reason=reason, detail=detail or {}, prev_hash=prev, hash="")
    entry.hash = _digest(prev, entry)
    session.add(entry)
    session.flush()
    return entry


def verify_audit(session: Session) -> tuple[int, int | None]:
    """(entries checked, id of the first broken entry or None)."""
    prev, n = GENESIS, 0
    for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id)):
        n += 1
        if e.prev_hash != prev or e.hash != _digest(prev, e):
            return n, e.id
        prev = e.hash
    return n, None
