"""Append-only audit log with a hash chain: each entry's hash covers its fields and the previous
entry's hash, so an edited or deleted row breaks the chain at that point.

Appends are serialised: write transactions run one at a time (``evidence.db.session``: SQLite's
write lock, on PostgreSQL a lock on this head row), and an append updates the chain's head row
(``audit_head``: how many entries, the newest hash) in the same transaction, so two requests at
once can never both link to the same predecessor, and deleting the last entries is caught.
Someone who can write to the database can still rewrite the head and recompute every hash: an
*anchor* (``anchor_audit``: the head's count and hash, written to a file outside the database)
pins the chain, and ``verify_audit`` checks it against every anchor given."""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from evidence.db import Sessions
from evidence.db.tables import AuditEntry, AuditHead
from evidence.errors import InvalidRequest
from evidence.utc import utcnow

__all__ = ["Actor", "Anchor", "AuditCheck", "anchor_audit", "append_audit", "audit_read", "read_anchors",
           "recorded_reason", "same_person", "seen_with", "utc_naive", "verify_audit"]

GENESIS = "0" * 64


@dataclass(frozen=True)
class Actor:
    name: str
    role: str
    streams: tuple[str, ...] = ()  # an ANPR agent key's registered video streams (its cameras: name/stream)


def utc_naive(at: datetime) -> datetime:
    """UTC wall time without an offset: the form every entry's time is hashed in."""
    return at if at.tzinfo is None else at.astimezone(UTC).replace(tzinfo=None)


def _digest(prev: str, e: AuditEntry) -> str:
    body = json.dumps([prev, utc_naive(e.at).isoformat(timespec="microseconds"), e.actor, e.role,
                       e.action, e.target, e.reason, e.detail], sort_keys=True, default=str)
    return hashlib.sha256(body.encode()).hexdigest()


def _take_head(session: Session) -> tuple[int, str]:
    """Count one more entry on the head row (its lock held to the end of the transaction);
    (entries before this one, newest hash)."""
    stmt = (update(AuditHead).where(AuditHead.id == 1).values(entries=AuditHead.entries + 1)
            .returning(AuditHead.entries, AuditHead.hash).execution_options(synchronize_session=False))
    row = session.execute(stmt).one_or_none()
    if row is None:
        raise RuntimeError("the audit_head row is missing: the database was not migrated (evidence db upgrade)")
    return int(row[0]) - 1, str(row[1])


def append_audit(session: Session, actor: Actor, action: str, target: str, reason: str | None = None,
                 detail: dict[str, Any] | None = None) -> AuditEntry:
    """Add an entry in the caller's write transaction (it commits with the action it records)."""
    _, prev = _take_head(session)
    entry = AuditEntry(at=utcnow(), actor=actor.name, role=actor.role, action=action,
                       target=target, reason=reason, detail=detail or {}, prev_hash=prev, hash="")
    entry.hash = _digest(prev, entry)
    session.add(entry)
    session.flush()
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(hash=entry.hash)
                    .execution_options(synchronize_session=False))
    return entry


def recorded_reason(reason: str) -> str:
    """``reason`` stripped; InvalidRequest when it is empty (a decision or request recorded in the
    log must say why)."""
    if not reason.strip():
        raise InvalidRequest("give a reason: it is recorded in the audit log")
    return reason.strip()


def audit_read(sessions: Sessions, actor: Actor, action: str, target: str, reason: str | None = None,
               detail: dict[str, Any] | None = None) -> int:
    """Record a view or a search once its data has been read (in a read session), in a write
    transaction of its own: the write lock is then held for the entry only, not for the reading.
    Returns the entry's id."""
    with sessions.begin() as s:
        entry = append_audit(s, actor, action, target, reason, detail)
        s.flush()
        return entry.id


def same_person(a: str, b: str) -> bool:
    """Whether two names (a person's, a key's) are the same to a reader: case and spacing aside."""
    def canon(name: str) -> str:  # fullwidth and other compatibility forms are the same letters to a reader
        return " ".join(unicodedata.normalize("NFKC", name).split()).casefold()

    return canon(a) == canon(b)


def seen_with(sessions: Sessions, actor: Actor, entry_id: int, image: str, within: timedelta) -> bool:
    """Whether ``image`` ("candidate:7", "subject:3", "feed:incident:2") was shown on the page whose
    view ``actor`` had audited as entry ``entry_id`` within ``within`` (its detail's ``shown``): then
    fetching it is part of that audited view, not a view of its own (one page, one entry — with
    the images and the live feed it showed)."""
    with sessions() as s:
        entry = s.get(AuditEntry, entry_id)
        return (entry is not None and entry.actor == actor.name and entry.at > utcnow() - within
                and image in ((entry.detail or {}).get("shown") or []))


@dataclass(frozen=True)
class Anchor:
    """The chain at a moment: its number of entries and the newest hash."""

    entries: int
    hash: str
    at: str

    def line(self) -> str:
        return json.dumps({"at": self.at, "entries": self.entries, "hash": self.hash}, sort_keys=True)


def anchor_audit(session: Session, out: Path, actor: Actor) -> Anchor:
    """Append the chain's current head to ``out`` (a file the database cannot rewrite: keep it on
    other storage) and record the anchoring in the log. The caller commits."""
    head = session.get(AuditHead, 1)
    if head is None:
        raise RuntimeError("the audit_head row is missing: the database was not migrated")
    anchor = Anchor(int(head.entries), head.hash, utcnow().isoformat(timespec="seconds"))
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a", encoding="utf-8") as f:
        f.write(anchor.line() + "\n")
    append_audit(session, actor, "audit.anchor", "audit_log", detail={"entries": anchor.entries, "hash": anchor.hash,
                                                                      "file": out.name})
    return anchor


def read_anchors(path: Path) -> list[Anchor]:
    """The anchors in an anchor file (ValueError naming the line when one is not an anchor)."""
    anchors = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            anchors.append(Anchor(int(d["entries"]), str(d["hash"]), str(d.get("at", ""))))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{n}: not an audit anchor ({exc})") from exc
    return anchors


@dataclass(frozen=True)
class AuditCheck:
    entries: int
    broken_at: int | None  # id of the first entry whose link or hash is wrong
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_audit(session: Session, anchors: Iterable[Anchor] = ()) -> AuditCheck:
    """Walk the chain: every entry must link to the one before and hash to its own hash; the head
    row must name the last entry; each anchor's entry must still carry the anchored hash. Reads one
    snapshot (``session`` must not have run a statement yet): appends committed meanwhile are not
    mistaken for entries added behind the head's back."""
    if session.get_bind().dialect.name == "postgresql" and not session.in_transaction():
        # SQLite's read sessions are one snapshot already.
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    pinned = {a.entries: a for a in anchors}
    problems: list[str] = []
    prev, n, broken = GENESIS, 0, None
    for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id).execution_options(yield_per=1000)):
        n += 1
        if broken is None and (e.prev_hash != prev or e.hash != _digest(prev, e)):
            broken = e.id
            what = "does not link to the entry before it" if e.prev_hash != prev else "was altered"
            problems.append(f"entry id {e.id} (entry {n} of the chain) {what}")
        if n in pinned and pinned[n].hash != e.hash:
            problems.append(f"entry {n} does not carry the hash anchored at {pinned[n].at} ({pinned[n].hash[:16]}…): "
                            "the log was rewritten")
        prev = e.hash
    head = session.get(AuditHead, 1)
    if head is None:
        problems.append("the chain head (audit_head) is missing")
    elif head.entries != n or head.hash != prev:
        problems.append(f"the chain head records {head.entries} entries ending in {head.hash[:16]}…, the log holds "
                        f"{n} ending in {prev[:16]}…: entries were deleted or added outside the log")
    for a in pinned.values():
        if a.entries > n:
            problems.append(f"the anchor of {a.at} pins {a.entries} entries; the log holds {n}: it was truncated")
    return AuditCheck(n, broken, tuple(problems))
