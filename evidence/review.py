"""A named user's decision on a candidate: a watchlist face match or a plate read in footage."""

from __future__ import annotations

from evidence.alerts import acknowledge_reviewed
from evidence.audit import Actor, append_audit
from evidence.db.tables import CandidateRow, PlateSightingRow
from evidence.eventkinds import EventKind
from evidence.utc import utcnow
from evidence.states import Decision, ReviewState
from evidence.events import candidate_event, evidence_event
from evidence.runtime import Runtime
from evidence.errors import Conflict, InvalidRequest, NotFound

__all__ = ["review_candidate", "review_sighting"]


def _check_decision(decision: str, reason: str) -> None:
    if decision not in tuple(Decision):
        raise InvalidRequest(f"decision must be confirmed or rejected, not {decision!r}")
    if not reason.strip():
        raise InvalidRequest("a review needs a reason")


def review_candidate(rt: Runtime, candidate_id: int, decision: str, actor: Actor, reason: str) -> CandidateRow:
    _check_decision(decision, reason)
    with rt.sessions.begin() as s:
        c = s.get(CandidateRow, candidate_id, with_for_update=True)
        if c is None:
            raise NotFound(f"candidate {candidate_id} not found")
        if c.review_state != ReviewState.PENDING:
            raise Conflict(f"candidate {candidate_id} was already {c.review_state} by {c.reviewed_by}")
        c.review_state, c.reviewed_by, c.reviewed_at, c.review_reason = decision, actor.name, utcnow(), reason
        append_audit(s, actor, f"candidate.{decision}", f"candidate:{c.id}", reason=reason,
                     detail={"subject": c.subject.name, "evidence_id": c.evidence_id, "score": c.score})
        candidate_event(s, c, EventKind.CANDIDATE_REVIEWED, reason=reason)
        acknowledge_reviewed(s, c.id, actor, decision, reason)
    return c


def review_sighting(rt: Runtime, sighting_id: int, decision: str, actor: Actor, reason: str) -> PlateSightingRow:
    """Confirm the plate read (the reviewer checked it against the crop) or reject it."""
    _check_decision(decision, reason)
    with rt.sessions.begin() as s:
        row = s.get(PlateSightingRow, sighting_id, with_for_update=True)
        if row is None:
            raise NotFound(f"plate sighting {sighting_id} not found")
        if row.review_state != ReviewState.PENDING:
            raise Conflict(f"plate sighting {sighting_id} was already {row.review_state} by {row.reviewed_by}")
        row.review_state, row.reviewed_by, row.reviewed_at, row.review_reason = decision, actor.name, utcnow(), reason
        append_audit(s, actor, f"plate_sighting.{decision}", f"plate_sighting:{row.id}", reason=reason,
                     detail={"vrm": row.vrm, "evidence_id": row.evidence_id, "confidence": row.confidence})
        evidence_event(s, row.evidence_id, EventKind.PLATE_REVIEWED, sighting_id=row.id, plate=row.vrm,
                       review_state=decision, reviewed_by=actor.name, reason=reason)
    return row
