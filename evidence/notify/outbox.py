"""From an event to the people it concerns, inside the transaction that wrote the event: an alert
on the desk for what needs a person, a delivery in the outbox for each subscription that asked for
it, an email step for a witness who asked. Nothing is sent here: what commits is sent after (the
senders in ``evidence.notify.deliver``), and what rolls back was never promised to anyone."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from evidence.db.outbox_tables import Alert, Delivery, Subscription
from evidence.db.tables import Incident, IncidentEvent
from evidence.eventkinds import CATALOGUE, EventKind
from evidence.notify.bus import queued
from evidence.notify.witness import on_event

__all__ = ["envelope", "new_secret", "outgoing", "publish"]


def new_secret() -> str:
    return secrets.token_hex(32)


def _summary(kind: EventKind, d: dict[str, Any]) -> str:
    if kind == EventKind.CANDIDATE:
        return f"Potential match: {d.get('subject')} (score {float(d.get('score') or 0):.2f}) at {d.get('t_s')} s"
    if kind == EventKind.ANPR_HIT:
        matched = d.get("matched_read") or {}
        alt = (f", the camera's alternative read {matched.get('vrm')} at {float(matched.get('confidence') or 0):.0%}"
               if d.get("on_alternative_read") and d.get("source") != "footage" else "")
        return (f"Hotlist hit: {d.get('hotlist_vrm')} read as {d.get('vrm_read') or d.get('vrm')}{alt}"
                f" ({d.get('category')}: {d.get('reason')})")[:300]
    if kind == EventKind.EVIDENCE_FAILED:
        return f"Evidence {d.get('evidence_id')} could not be analysed: {d.get('reason') or d.get('error') or ''}"[:300]
    if kind == EventKind.ANPR_CAMERA_SILENT:
        return f"ANPR camera {d.get('camera_id')} silent for {d.get('silent_s') or d.get('after_s')} s"[:300]
    return f"Subscription '{d.get('name')}' is failing: {d.get('error', '')}"[:300]


def outgoing(kind: EventKind, d: dict[str, Any]) -> dict[str, Any]:
    """What of an event leaves the system: the fields its catalogue entry lets out. Evidence
    itself never does: ids, scores, reads and links that need an account. ``evidence.received``
    says only that something arrived."""
    names = CATALOGUE[kind].outgoing or ()
    return {k: v for k, v in d.items() if k in names}


def _matches(sub: Subscription, kind: EventKind, incident: Incident | None, d: dict[str, Any]) -> bool:
    f = sub.filters or {}
    if kind not in sub.events:
        return False
    if f.get("incident") is not None and (incident is None or incident.id != f["incident"]):
        return False
    if f.get("incident_type") and (incident is None or incident.incident_type != f["incident_type"]):
        return False
    return not (kind == EventKind.ANPR_HIT and f.get("hotlist_category") and d.get("category") != f["hotlist_category"])


def publish(s: Session, event: IncidentEvent) -> None:
    """The event's alert and deliveries (``event`` flushed: it has its id)."""
    kind, data = EventKind(event.kind), dict(event.data)
    spec = CATALOGUE[kind]
    if spec.alerts:
        alert = Alert(event_id=event.id, kind=kind, incident_id=event.incident_id, summary=_summary(kind, data))
        s.add(alert)
        s.flush()
        data["alert_id"] = alert.id
        event.data = data
    if spec.outgoing is not None:
        subs = list(s.scalars(select(Subscription).where(Subscription.purpose == "subscriber",
                                                         Subscription.state != "stopped")))
        incident = s.get(Incident, event.incident_id) if subs and event.incident_id is not None else None
        for sub in subs:
            if _matches(sub, kind, incident, data):
                s.add(Delivery(key=f"s{sub.id}:e{event.id}", subscription_id=sub.id, event_id=event.id, kind=kind,
                               channel=sub.channel, target=sub.target,
                               payload=envelope(event, incident, outgoing(kind, data))))
                queued(s, sub.id)
    on_event(s, event)  # a witness's steps follow the evidence's events


def envelope(event: IncidentEvent, incident: Incident | None, data: dict[str, Any]) -> dict[str, Any]:
    """The message every channel carries: the event id (receivers use it to ignore a repeat)."""
    return {"id": f"evt_{event.id}", "type": event.kind, "created_at": event.at.isoformat(),
            "incident": None if incident is None else {"id": incident.id, "reference": incident.reference,
                                                       "type": incident.incident_type},
            "data": data}
