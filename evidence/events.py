"""Incident events: written in the same transaction as what they report (so the feed never shows
something that was rolled back, and never misses something that was committed), read in id order
by the timeline and the live feed."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from evidence.db.tables import CandidateRow, Evidence, IncidentEvent
from evidence.eventkinds import EventKind, in_words, validate
from evidence.notify.bus import pending
from evidence.notify.outbox import publish
from evidence.reports import candidate_view

__all__ = ["add_event", "candidate_event", "event_view", "events_after", "evidence_event"]


def add_event(s: Session, incident_id: int | None, kind: EventKind, data: dict[str, Any]) -> IncidentEvent:
    """The event, on its incident or on none; with the alert and the deliveries it raises (the
    outbox, ``evidence.notify``), all in the caller's transaction. ``data`` is checked against the
    kind's payload model (``evidence.eventkinds``): a shape the catalogue does not know is refused."""
    event = IncidentEvent(incident_id=incident_id, kind=str(kind), data=validate(kind, data))
    s.add(event)
    s.flush()
    publish(s, event)
    pending(s, {"incident_id": incident_id, **event_view(event)})  # pushed to the live feeds once committed
    return event


def evidence_event(s: Session, evidence_id: int, kind: EventKind, **data: Any) -> None:
    """An event about one evidence item, on its incident (if it has one)."""
    incident_id = s.scalar(select(Evidence.incident_id).where(Evidence.id == evidence_id))
    add_event(s, incident_id, kind, {"evidence_id": evidence_id, **data})


def candidate_event(s: Session, c: CandidateRow, kind: EventKind = EventKind.CANDIDATE, **data: Any) -> None:
    """A candidate raised (or reviewed), as every other view shows it (``candidate_view``: ``t_s``
    when the face was first seen, ``crop_t_s`` the crop's frame), with the link to its crop."""
    view = candidate_view(c)
    evidence_event(s, c.evidence_id, kind, candidate_id=view.pop("id"), **view, crop_url=f"/candidates/{c.id}/crop",
                   **data)


def events_after(s: Session, incident_id: int, after_id: int = 0, limit: int = 500) -> list[IncidentEvent]:
    return list(s.scalars(select(IncidentEvent).where(IncidentEvent.incident_id == incident_id,
                                                      IncidentEvent.id > after_id)
                          .order_by(IncidentEvent.id).limit(limit)))


def event_view(e: IncidentEvent) -> dict[str, Any]:
    """An event as the feeds carry it: its id, time (UTC), kind, ``what`` (in words, as the board's
    timeline and the chronology say it) and its payload."""
    # The envelope after the payload: no payload field (an escalation's, say, written before its
    # model named it alert_kind) can stand in for the event's own id, time or kind.
    return {**e.data, "id": e.id, "at": e.at.isoformat(), "kind": e.kind, "what": in_words(e.kind, e.data)}
