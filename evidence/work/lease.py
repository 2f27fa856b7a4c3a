"""A runner's hold on one row: the evidence (its ingest and its finalise) or a work item.

A lease names its owner (host, process, a random part) and runs out unless renewed. Taking it is
one conditional UPDATE, so of two runners one wins; every write of a run is fenced by it, so a
runner whose lease lapsed and was taken over writes nothing more; a crashed runner's lease lapses
and its work is redone from scratch by whoever takes it next."""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from evidence.db import Sessions, rows_changed
from evidence.db.tables import Evidence, WorkItem
from evidence.states import WorkState
from evidence.utc import utcnow
from evidence.errors import Conflict

__all__ = ["Lease", "LeaseHeld", "release"]

PROGRESS_STEP = 0.05  # progress is stored every 5 % (and at least every third of the lease)


class LeaseHeld(Conflict):
    """Another runner holds (or took over) this row; this run stops without writing."""

    code = "lease_held"


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def release(row: Evidence | WorkItem) -> None:
    """Let go of a row loaded in the caller's transaction (its work is done or has failed)."""
    row.lease_owner, row.lease_expires_at = None, None


class Lease:
    """This runner's lease on ``model`` row ``row_id``, ``lease_s`` long once taken or renewed."""

    def __init__(self, sessions: Sessions, model: type[Evidence] | type[WorkItem], row_id: int,
                 lease_s: float) -> None:
        self.sessions, self.model, self.row_id, self.lease_s = sessions, model, row_id, lease_s
        self.owner = _owner()
        self._beat_at = time.monotonic()
        self._progress = 0.0

    def __repr__(self) -> str:
        return f"Lease({self.model.__tablename__} {self.row_id}, {self.owner})"

    def take(self, s: Session, **values: Any) -> bool:
        """Take or extend the lease in the caller's transaction (and set ``values``); False if
        another runner holds it."""
        m, now = self.model, utcnow()
        free = or_(m.lease_owner.is_(None), m.lease_owner == self.owner, m.lease_expires_at < now)
        stmt = update(m).where(m.id == self.row_id, free).values(
            lease_owner=self.owner, lease_expires_at=now + timedelta(seconds=self.lease_s), **values)
        return rows_changed(s.execute(stmt.execution_options(synchronize_session=False))) == 1

    def fence(self, s: Session) -> None:
        """LeaseHeld unless this runner still holds the lease (call before writing results)."""
        holder = s.scalar(select(self.model.lease_owner).where(self.model.id == self.row_id))
        if holder != self.owner:
            raise LeaseHeld(f"{self.model.__tablename__} {self.row_id}: another worker took over")

    def renew(self, also: Callable[[Session], None] | None = None) -> None:
        """Extend the lease in a transaction of its own, doing ``also`` in it; LeaseHeld if it
        was taken over."""
        with self.sessions.begin() as s:
            if not self.take(s):
                raise LeaseHeld(f"{self.model.__tablename__} {self.row_id}: another worker took over")
            if also is not None:
                also(s)
        self._beat_at = time.monotonic()

    def due(self, progress: float = 0.0) -> bool:
        """Whether a heartbeat should be written now: progress moved on a step, or a third of the
        lease has passed."""
        return progress - self._progress >= PROGRESS_STEP or time.monotonic() - self._beat_at > self.lease_s / 3

    def heartbeat(self, progress: float = 0.0, also: Callable[[Session], None] | None = None) -> None:
        """``renew`` (with ``also``) when ``due``: call as often as convenient while working."""
        if self.due(progress):
            self._progress = progress
            self.renew(also)

    def let_go(self) -> None:
        """Release after a transient error, so that a retry can start at once (a work item goes
        back to ``queued``)."""
        values: dict[str, Any] = {"lease_owner": None, "lease_expires_at": None}
        if self.model is WorkItem:
            values["state"] = WorkState.QUEUED
        with self.sessions.begin() as s:
            s.execute(update(self.model).where(self.model.id == self.row_id, self.model.lease_owner == self.owner)
                      .values(**values))
