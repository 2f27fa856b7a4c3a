"""Governance: watchlists as authorised (who authorised each, for what purpose, on what legal
basis, until when, how large), approvals of access to old ANPR reads, and markers processes read
to stay in step (the face index's deletion epoch)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, String, Text, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from evidence.db.session import rows_changed
from evidence.db.tables import Base
from evidence.utc import utcnow

__all__ = ["INDEX_EPOCH", "AnprAccess", "Marker", "WatchlistRow", "bump_marker", "marker"]

# Moves on when face tracks are deleted (evidence.retention) or re-embedded (evidence.reembed): every
# process rebuilds its face index (evidence.faceindex).
INDEX_EPOCH = "face_index_epoch"


class WatchlistRow(Base):
    """A watchlist compiled for a purpose and authorised by a named senior officer. An expired or
    purged list matches nothing; its subjects are purged (references deleted) with an audit record."""

    __tablename__ = "watchlists"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    purpose: Mapped[str] = mapped_column(Text)
    legal_basis: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(64))
    authorised_by: Mapped[str] = mapped_column(String(100))
    authorised_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    max_subjects: Mapped[int]
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    purged_at: Mapped[datetime | None]


class AnprAccess(Base):
    """A request to read ANPR camera reads older than the access limit (90 days), and the second
    named person's decision on it. ``scope`` is what it covers: {"query": a plate query}."""

    __tablename__ = "anpr_access"
    id: Mapped[int] = mapped_column(primary_key=True)
    requested_by: Mapped[str] = mapped_column(String(100))
    requested_role: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    scope: Mapped[dict[str, Any]] = mapped_column(JSON)
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending, approved, refused
    decided_by: Mapped[str | None] = mapped_column(String(100))
    decided_at: Mapped[datetime | None]
    decision_reason: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[datetime | None]
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="SET NULL"))


class Marker(Base):
    """A named counter processes compare with what they hold (``face_index_epoch``: bumped when
    face tracks are deleted, so every process rebuilds its face index without them)."""

    __tablename__ = "markers"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)
    at: Mapped[datetime] = mapped_column(default=utcnow)


def marker(s: Session, name: str) -> int:
    """The marker's value (0 before it was first set)."""
    row = s.get(Marker, name)
    return int(row.value) if row else 0


def bump_marker(s: Session, name: str) -> None:
    """Move the marker on by one (in the session's transaction)."""
    done = s.execute(update(Marker).where(Marker.name == name).values(value=Marker.value + 1, at=utcnow())
                     .execution_options(synchronize_session=False))
    if not rows_changed(done):
        s.add(Marker(name=name, value=1, at=utcnow()))
        s.flush()
