"""A named user's decision on a candidate."""

from __future__ import annotations

from evidence.audit import Actor, append_audit
from evidence.db.tables import CandidateRow, utcnow
from evidence.events import candidate_event
from evidence.runtime import Runtime
from pipeline.errors import Conflict, NotFound

__all__ = ["review_candidate"]


def review_candidate(rt: Runtime, candidate_id: int, decision: str, actor: Actor, reason: str) -> CandidateRow:
    if decision not in ("confirmed", "rejected"):
        raise Conflict(f"decision must be confirmed or rejected, not {decision!r}")
    if not reason.strip():
        raise Conflict("a review needs a reason")
    with rt.sessions.begin() as s:
        c = s.get(CandidateRow, candidate_id, with_for_update=True)
        if c is None:
            raise NotFound(f"candidate {candidate_id} not found")
        if c.review_state != "pending":
            raise Conflict(f"candidate {candidate_id} was already {c.review_state} by {c.reviewed_by}")
        c.review_state, c.reviewed_by, c.reviewed_at, c.review_reason = decision, actor.name, utcnow(), reason
        append_audit(s, actor, f"candidate.{decision}", f"candidate:{c.id}", reason=reason,
                     detail={"subject": c.subject.name, "evidence_id": c.evidence_id, "score": c.score})
        candidate_event(s, c, "candidate.reviewed", reviewed_by=actor.name, reason=reason)
    return c
