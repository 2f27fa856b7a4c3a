"""What every work item's runner is given and gives back: a frozen ``Job`` of plain values (read in
one transaction, so no database row crosses into the work), the item's lease to fence writes and
beat with, and callbacks; it returns an ``Outcome``. One runner per kind, one module each:
``segment``, ``quick``, ``plates``, ``transcode``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from evidence.db import Sessions
from evidence.db.tables import CandidateRow, Evidence, WorkItem
from evidence.runtime import Runtime
from evidence.states import EvidenceState, WorkKind, WorkState
from evidence.work.lease import Lease, LeaseHeld
from pipeline.types import MediaInfo

__all__ = ["ANALYSED_KINDS", "Hooks", "ItemLease", "Job", "Outcome", "Runner", "store_evidence_progress"]

ANALYSED_KINDS = (WorkKind.SEGMENT, WorkKind.PLATES)  # what the evidence's percentage counts


@dataclass(frozen=True)
class Job:
    """One work item as its runner sees it."""

    item_id: int
    evidence_id: int
    kind: WorkKind
    index: int
    start_s: float
    end_s: float | None  # None: to the end of the clip
    original: Path  # the stored original, read-only
    name: str  # the sender's file name (for messages)
    sha256: str  # the original's: every derivative names it as its parent
    media: MediaInfo
    incident_id: int | None = None  # where hotlist hits in this footage go, besides the hotlist's own incident
    plan: Mapping[str, Any] = field(default_factory=dict)  # what the ingest planned for it (the quick pass's key frames)

    @property
    def span_s(self) -> float:
        end = self.end_s if self.end_s is not None else self.media.duration_s
        return max(end - self.start_s, 1e-6)

    def done_at(self, t_s: float) -> float:
        """The share of this item's span done once a frame at ``t_s`` is analysed."""
        return min(1.0, max(0.0, (t_s - self.start_s) / self.span_s))

    @classmethod
    def from_rows(cls, item: WorkItem, ev: Evidence, original: Path) -> Job:
        media = MediaInfo.from_record(ev.media)
        if item.kind not in WorkKind.__members__.values():
            raise ValueError(f"work item {item.id} has an unknown kind {item.kind!r}")
        return cls(item.id, ev.id, WorkKind(item.kind), item.index, item.start_s, item.end_s, original,
                   ev.original_name, ev.sha256, media, ev.incident_id, dict(item.plan or {}))


@dataclass(frozen=True)
class Hooks:
    """Callbacks of an in-process run: its progress (0-1 of this item), each new candidate."""

    on_progress: Callable[[float], None] | None = None
    on_candidate: Callable[[CandidateRow], None] | None = None

    def progress(self, done: float) -> None:
        if self.on_progress is not None:
            self.on_progress(done)


@dataclass(frozen=True)
class Outcome:
    frames: int  # frames looked at
    result: dict[str, Any]  # stored on the work item, and in the evidence's provenance


class ItemLease(Lease):
    """A work item's lease; its heartbeat also stores the item's and the evidence's progress, and
    stops the run (LeaseHeld) when the evidence has failed meanwhile."""

    def __init__(self, sessions: Sessions, item_id: int, evidence_id: int, lease_s: float) -> None:
        super().__init__(sessions, WorkItem, item_id, lease_s)
        self.evidence_id = evidence_id

    def beat(self, progress: float, hooks: Hooks | None = None) -> None:
        if hooks is not None:
            hooks.progress(progress)
        self.heartbeat(progress, partial(self._store, progress))

    def _store(self, progress: float, s: Session) -> None:
        item = s.get(WorkItem, self.row_id)
        ev = s.get(Evidence, self.evidence_id)
        if item is None or ev is None or ev.state == EvidenceState.FAILED:
            raise LeaseHeld(f"evidence {self.evidence_id} failed meanwhile: stopping")
        item.progress = round(progress, 3)
        store_evidence_progress(s, ev)


def store_evidence_progress(s: Session, ev: Evidence) -> None:
    """The evidence's percentage: the share of its duration analysed, for faces and, when they are
    searched, for plates; 99 % at most until it is finalised."""
    duration = max(float(ev.media.get("duration_s", 0.0)), 1e-6)
    done, kinds = 0.0, set()
    for item in s.scalars(select(WorkItem).where(WorkItem.evidence_id == ev.id, WorkItem.kind.in_(ANALYSED_KINDS))):
        end = item.end_s if item.end_s is not None else duration
        done += max(0.0, end - item.start_s) * (1.0 if item.state == WorkState.DONE else item.progress)
        kinds.add(item.kind)
    ev.progress = round(min(0.99, done / (duration * max(1, len(kinds)))), 3)


class Runner(Protocol):
    def __call__(self, rt: Runtime, job: Job, lease: ItemLease, hooks: Hooks) -> Outcome: ...
