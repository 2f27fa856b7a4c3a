"""Running one work item, whatever its kind: take its lease, read it as a ``Job``, hand it to the
kind's runner, and record the ``Outcome`` — or, on bad media, end the evidence ``failed``."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from evidence.db.tables import Evidence, WorkItem
from evidence.eventkinds import EventKind
from evidence.events import evidence_event
from evidence.runtime import Runtime
from evidence.states import EvidenceState, WorkKind, WorkState
from evidence.utc import utcnow
from evidence.work.contract import Hooks, ItemLease, Job, Runner, store_evidence_progress
from evidence.work.failure import fail_evidence
from evidence.work.lease import LeaseHeld, release
from evidence.work.plates import run_plates
from evidence.work.quick import run_quick
from evidence.work.segment import run_segment
from evidence.work.transcode import run_transcode
from evidence.errors import EvidenceError, NotFound, StoreUnavailable

__all__ = ["ItemDone", "RUNNERS", "run_item"]

RUNNERS: dict[WorkKind, Runner] = {WorkKind.QUICK: run_quick, WorkKind.SEGMENT: run_segment,
                                   WorkKind.PLATES: run_plates, WorkKind.TRANSCODE: run_transcode}


@dataclass(frozen=True)
class ItemDone:
    """A finished work item; ``all_done``: it was the evidence's last one (finalise may run)."""

    item_id: int
    evidence_id: int
    kind: WorkKind
    frames: int
    all_done: bool


def _all_done(s: Session, evidence_id: int) -> bool:
    left = s.scalar(select(WorkItem.id).where(WorkItem.evidence_id == evidence_id, WorkItem.state != WorkState.DONE)
                    .limit(1))
    return left is None


def _fetch_original(rt: Runtime, item_id: int) -> None:
    """Bring the original into this process's cache (an S3 store) before the item's lease is taken:
    a download of gigabytes would otherwise outlast the lease, unrenewed."""
    with rt.sessions() as s:
        item = s.get(WorkItem, item_id)
        ev = s.get(Evidence, item.evidence_id) if item is not None else None
    if ev is not None and item is not None and item.state != WorkState.DONE:
        rt.store.absolute(ev.store_path)


def run_item(rt: Runtime, item_id: int, hooks: Hooks | None = None, fail_on_error: bool = True) -> ItemDone:
    """Do one work item (a no-op if it is done). Bad media ends the evidence ``failed`` with the
    reason (re-raised), and so does any other error unless ``fail_on_error`` is False (a job that
    will be retried: the item is only let go). Another runner holding the item raises LeaseHeld."""
    _fetch_original(rt, item_id)
    with rt.sessions.begin() as s:
        item = s.get(WorkItem, item_id)
        if item is None:
            raise NotFound(f"work item {item_id} not found (the evidence was re-planned)")
        ev = s.get(Evidence, item.evidence_id)
        assert ev is not None
        if item.state == WorkState.DONE:
            return ItemDone(item.id, ev.id, WorkKind(item.kind), item.frames, _all_done(s, ev.id))
        if ev.state == EvidenceState.FAILED:
            raise LeaseHeld(f"evidence {ev.id} has failed: {ev.failure_reason}")
        lease = ItemLease(rt.sessions, item_id, ev.id, rt.settings.lease_s)
        if not lease.take(s, state=WorkState.RUNNING, progress=0.0, frames=0):
            raise LeaseHeld(f"work item {item_id} is being done by another worker")
    try:
        job = Job.from_rows(item, ev, rt.store.absolute(ev.store_path))
        outcome = RUNNERS[job.kind](rt, job, lease, hooks or Hooks())
    except LeaseHeld:
        raise
    except EvidenceError as exc:
        if isinstance(exc, StoreUnavailable) and not fail_on_error:  # the store did not answer: RQ retries
            lease.let_go()
        else:
            fail_evidence(rt, ev.id, exc.message, item_id)
        raise
    except Exception as exc:
        if fail_on_error:
            fail_evidence(rt, ev.id, f"internal error: {type(exc).__name__}: {exc}", item_id)
        else:
            lease.let_go()
        raise
    with rt.sessions.begin() as s:
        lease.fence(s)
        row = s.get(WorkItem, item_id)
        ev_row = s.get(Evidence, job.evidence_id)
        assert row is not None and ev_row is not None
        row.state, row.progress, row.frames, row.result, row.finished_at = (
            WorkState.DONE, 1.0, outcome.frames, outcome.result, utcnow())
        release(row)
        s.flush()
        store_evidence_progress(s, ev_row)
        evidence_event(s, job.evidence_id, EventKind.EVIDENCE_PROGRESS, progress=ev_row.progress,
                       finished=f"{job.kind} {job.index}")
        return ItemDone(item_id, job.evidence_id, job.kind, outcome.frames, _all_done(s, job.evidence_id))
