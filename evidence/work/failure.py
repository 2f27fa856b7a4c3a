"""The end of an evidence item's analysis when something went wrong: ``failed`` with the reason,
its unreviewed results cleared, reviewed ones kept. A late failure report never undoes finished
work."""

from __future__ import annotations

from evidence.audit import Actor, append_audit
from evidence.db.tables import Evidence, WorkItem
from evidence.eventkinds import EventKind
from evidence.events import evidence_event
from evidence.runtime import Runtime
from evidence.states import EvidenceState, WorkState
from evidence.utc import utcnow
from evidence.work.lease import release
from evidence.work.results import clear_unreviewed

__all__ = ["fail_evidence"]


def fail_evidence(rt: Runtime, evidence_id: int, reason: str, item_id: int | None = None) -> None:
    """End the evidence ``failed`` with the reason (and the work item that failed, if given)."""
    with rt.sessions.begin() as s:
        ev = s.get(Evidence, evidence_id)
        if ev is None or ev.state == EvidenceState.DONE:
            return
        clear_unreviewed(s, evidence_id)
        ev.state, ev.failure_reason, ev.finished_at = EvidenceState.FAILED, reason, utcnow()
        evidence_event(s, evidence_id, EventKind.EVIDENCE_FAILED, reason=reason)
        release(ev)
        item = s.get(WorkItem, item_id) if item_id is not None else None
        if item is not None:
            item.state, item.result = WorkState.FAILED, {"reason": reason}
            release(item)
        append_audit(s, Actor("pipeline", "system"), EventKind.EVIDENCE_FAILED, f"evidence:{evidence_id}", reason=reason)
