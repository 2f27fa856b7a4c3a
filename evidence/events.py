"""Incident events: written in the same transaction as what they report (so the feed never shows
something that was rolled back, and never misses something that was committed), read in id order
by the timeline and the live feed."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from evidence.db.tables import CandidateRow, Evidence, IncidentEvent
from evidence.notify.bus import pending
from evidence.notify.outbox import publish

__all__ = ["add_event", "candidate_event", "event_view", "events_after", "evidence_event"]


def add_event(s: Session, incident_id: int | None, kind: str, data: dict[str, Any]) -> IncidentEvent:
    """The event, on its incident or on none; with the alert and the deliveries it raises (the
    outbox, ``evidence.notify``), all in the caller's transaction."""
    event = IncidentEvent(incident_id=incident_id, kind=kind, data=data)
    s.add(event)
    s.flush()
    publish(s, event)
    pending(s, {"incident_id": incident_id, **event_view(event)})  # pushed to the live feeds once committed
    return event


def evidence_event(s: Session, evidence_id: int, kind: str, **data: Any) -> None:
    """An event about one evidence item, on its incident (if it has one)."""
    incident_id = s.scalar(select(Evidence.incident_id).where(Evidence.id == evidence_id))
    add_event(s, incident_id, kind, {"evidence_id": evidence_id, **data})


def candidate_event(s: Session, c: CandidateRow, kind: str = "candidate", **data: Any) -> None:
    """A candidate raised (or reviewed): what the control room needs to act on it."""
    evidence_event(s, c.evidence_id, kind, candidate_id=c.id, subject=c.subject.name, score=round(c.score, 4),
                   distance=round(c.distance, 4), threshold=c.threshold, t_s=round(c.t_s, 2),
                   review_state=c.review_state, crop_url=f"/candidates/{c.id}/crop", **data)


def events_after(s: Session, incident_id: int, after_id: int = 0, limit: int = 500) -> list[IncidentEvent]:
    return list(s.scalars(select(IncidentEvent).where(IncidentEvent.incident_id == incident_id,
                                                      IncidentEvent.id > after_id)
                          .order_by(IncidentEvent.id).limit(limit)))


def event_view(e: IncidentEvent) -> dict[str, Any]:
    return {"id": e.id, "at": e.at.isoformat(), "kind": e.kind, **e.data}
