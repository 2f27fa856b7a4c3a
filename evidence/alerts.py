"""The alert desk: everything that needs a person, across all incidents — potential matches,
hotlist hits (an entry linked to no incident included), failed evidence, failing subscriptions.
Each alert is acknowledged by a named person (who, when, note); one nobody acknowledges within
``EVIDENCE_ALERT_ESCALATE_S`` is escalated (an ``alert.escalated`` event, to the desk and to its
subscribers). A confirmed match or a hit can be sent on to an officer's device, at any time after
its review; the officer answers from the link (received, attending), and the alert shows where it
went, how each delivery stands and the officer's answer."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from evidence.audit import Actor, append_audit
from evidence.db.outbox_tables import Alert, Delivery, Share, Subscription
from evidence.db.tables import CandidateRow, Evidence, Incident, IncidentEvent
from evidence.errors import Conflict, InvalidRequest, NotFound
from evidence.eventkinds import EventKind, alerting
from evidence.events import add_event
from evidence.hits import hit_facts, place_words
from evidence.keys import secret_digest
from evidence.notify.bus import queued
from evidence.runtime import Runtime
from evidence.states import ReviewState
from evidence.utc import utcnow

__all__ = ["DESK_KINDS", "REPLIES", "acknowledge", "acknowledge_reviewed", "alert_view", "alerts_of_events",
           "alerts_with_incident", "can_be_sent", "close_stale_alerts", "desk_events", "escalate_due", "officer_reply", "open_share",
           "send_to_officer", "shares_of"]

DESK_KINDS = (*alerting(), EventKind.ALERT_ACKNOWLEDGED, EventKind.ALERT_ESCALATED, EventKind.ALERT_REPLY)
REPLIES = ("received", "attending")  # what an officer answers from the link


def alerts_with_incident(s: Session, *, open_only: bool = False, handled_only: bool = False,
                         alert_id: int | None = None, limit: int = 100) -> list[tuple[Alert, str | None]]:
    """Alerts, newest first, each with its incident's reference (none for an alert on no incident):
    all, the open ones only, or the handled (acknowledged) ones only."""
    q = select(Alert, Incident.reference).outerjoin(Incident, Incident.id == Alert.incident_id)
    if open_only:
        q = q.where(Alert.acknowledged_at.is_(None))
    if handled_only:
        q = q.where(Alert.acknowledged_at.is_not(None))
    if alert_id is not None:
        q = q.where(Alert.id == alert_id)
    return [(a, ref) for a, ref in s.execute(q.order_by(Alert.id.desc()).limit(limit)).all()]


def alert_view(a: Alert, reference: str | None) -> dict[str, Any]:
    return {"id": a.id, "kind": a.kind, "event_id": a.event_id, "incident_id": a.incident_id,
            "incident": reference, "summary": a.summary, "raised_at": a.raised_at.isoformat(),
            "acknowledged_at": a.acknowledged_at.isoformat() if a.acknowledged_at else None,
            "acknowledged_by": a.acknowledged_by, "note": a.ack_note,
            "escalated_at": a.escalated_at.isoformat() if a.escalated_at else None}


def desk_events(s: Session, after: int, limit: int = 500) -> list[IncidentEvent]:
    """The desk's feed: events that raise, acknowledge or escalate an alert, in id order."""
    return list(s.scalars(select(IncidentEvent).where(IncidentEvent.id > after, IncidentEvent.kind.in_(DESK_KINDS))
                          .order_by(IncidentEvent.id).limit(limit)))


def acknowledge(rt: Runtime, alert_id: int, actor: Actor, note: str) -> Alert:
    """The first acknowledgement wins; a second is a Conflict naming who was first."""
    with rt.sessions.begin() as s:  # write transactions run one at a time: the check below holds
        a = s.get(Alert, alert_id)
        if a is None:
            raise NotFound(f"no alert {alert_id}")
        if a.acknowledged_at is not None:
            raise Conflict(f"alert {alert_id} was already acknowledged by {a.acknowledged_by}")
        _close(s, a, actor, note)
        append_audit(s, actor, "alert.acknowledge", f"alert:{a.id}", note, {"kind": a.kind})
        return a


def _close(s: Session, a: Alert, actor: Actor, note: str) -> None:
    a.acknowledged_at, a.acknowledged_by, a.ack_note = utcnow(), actor.name, note
    add_event(s, a.incident_id, EventKind.ALERT_ACKNOWLEDGED, {"alert_id": a.id, "by": actor.name, "role": actor.role,
                                                       "note": note, "summary": a.summary})


def acknowledge_reviewed(s: Session, candidate_id: int, actor: Actor, decision: str, reason: str) -> None:
    """A reviewed potential match needs nobody else: its open alert is acknowledged by the reviewer."""
    alerts = list(s.scalars(select(Alert).join(IncidentEvent, IncidentEvent.id == Alert.event_id).where(
        Alert.kind == EventKind.CANDIDATE, Alert.acknowledged_at.is_(None),
        IncidentEvent.data["candidate_id"].as_integer() == candidate_id)))
    for a in alerts:
        _close(s, a, actor, f"{decision}: {reason}")


def close_alerts_of(s: Session, kind: str, key: str, value: str, actor: Actor, note: str) -> None:
    """Close the open alerts of ``kind`` whose event says ``key`` = ``value`` (a camera heard again)."""
    for a in s.scalars(select(Alert).join(IncidentEvent, IncidentEvent.id == Alert.event_id).where(
            Alert.kind == kind, Alert.acknowledged_at.is_(None), IncidentEvent.data[key].as_string() == value)):
        _close(s, a, actor, note)


def close_stale_alerts(s: Session, evidence_id: int, superseded_why: str = "superseded by the full analysis") -> None:
    """Potential matches the analysis withdrew (fewer frames supported them, a run redone) or
    superseded (the quick pass's, once the full pass has run) need nobody: their alerts are closed,
    by the pipeline, saying why — they must not escalate."""
    s.flush()
    rows = list(s.execute(select(Alert, IncidentEvent.data).join(IncidentEvent, IncidentEvent.id == Alert.event_id)
                          .where(Alert.kind == EventKind.CANDIDATE, Alert.acknowledged_at.is_(None),
                                 IncidentEvent.data["evidence_id"].as_integer() == evidence_id)).all())
    for a, data in rows:
        c = s.get(CandidateRow, (data or {}).get("candidate_id"))
        if c is None or c.review_state == ReviewState.SUPERSEDED:
            _close(s, a, Actor("pipeline", "system"),
                   "withdrawn by the analysis" if c is None else superseded_why)


def escalate_due(rt: Runtime) -> int:
    """Escalate every alert unacknowledged for longer than the setting; returns how many."""
    cutoff = utcnow() - timedelta(seconds=rt.settings.alert_escalate_s)
    due = select(Alert).where(Alert.acknowledged_at.is_(None), Alert.escalated_at.is_(None),
                              Alert.raised_at < cutoff).limit(100)
    with rt.sessions() as s:  # the sweep reads first: most sweeps find nothing and take no write lock
        if s.scalar(due.with_only_columns(Alert.id)) is None:
            return 0
    with rt.sessions.begin() as s:  # decided again inside the write (one at a time): each escalated once
        alerts = list(s.scalars(due))
        for a in alerts:
            a.escalated_at = utcnow()
            add_event(s, a.incident_id, EventKind.ALERT_ESCALATED, {"alert_id": a.id, "alert_kind": a.kind,
                                                                    "summary": a.summary,
                                                                    "after_s": rt.settings.alert_escalate_s})
            append_audit(s, Actor("desk", "system"), "alert.escalate", f"alert:{a.id}",
                         detail={"after_s": rt.settings.alert_escalate_s})
    return len(alerts)


def send_to_officer(rt: Runtime, alert_id: int, device_id: int, actor: Actor, note: str) -> dict[str, Any]:
    """Send a confirmed potential match or a hotlist hit to an officer's device: the summary, the
    incident, where, the sender's note and a link to the image that expires. Audited with
    exactly what was sent; returns it."""
    with rt.sessions.begin() as s:
        a, device = s.get(Alert, alert_id), s.get(Subscription, device_id)
        if a is None:
            raise NotFound(f"no alert {alert_id}")
        if device is None or device.purpose != "device" or device.state == "stopped":
            raise NotFound(f"no officer device {device_id}")
        event = s.get(IncidentEvent, a.event_id)
        data: dict[str, Any] = dict(event.data) if event else {}
        image, location = _image_and_place(s, a, data, utcnow() - timedelta(days=rt.settings.anpr_reason_after_days))
        incident = s.get(Incident, a.incident_id) if a.incident_id else None
        token = secrets.token_urlsafe(24)
        expires = utcnow() + timedelta(minutes=rt.settings.share_ttl_min)
        sent = {"summary": a.summary, "incident": incident.reference if incident else None,
                "location": location, "note": note, "sent_by": actor.name, "expires_at": expires.isoformat(),
                "link_path": f"/o/{token}", "alert_id": a.id}
        kept = {k: v for k, v in sent.items() if k != "link_path"}  # the link itself only in the message
        share = Share(token_sha256=secret_digest(token), alert_id=a.id, device_id=device.id, sent=kept,
                      image_path=image, expires_at=expires, created_by=actor.name)
        s.add(share)
        s.flush()
        s.add(Delivery(key=f"share{share.id}", subscription_id=device.id, kind="officer.share", channel=device.channel,
                       target=device.target, payload=sent if device.channel == "email" else
                       {"id": f"share_{share.id}", "type": "officer.share", "created_at": share.created_at.isoformat(),
                        "data": sent}))
        queued(s, device.id)
        append_audit(s, actor, "alert.send", f"alert:{a.id}", note,
                     {"device": device.name, "device_id": device.id, "sent": kept, "image": bool(image)})
        return sent


def can_be_sent(kind: str, review_state: str | None = None) -> bool:
    """What may be sent to an officer: a hotlist hit, or a potential match a person has confirmed
    (``review_state`` is the match's). The one statement of the rule: the pages offer "Send" by it
    and sending refuses by it."""
    return kind == EventKind.ANPR_HIT or (kind == EventKind.CANDIDATE and review_state == ReviewState.CONFIRMED)


def _image_and_place(s: Session, a: Alert, data: dict[str, Any], old: datetime) -> tuple[str | None, str | None]:
    """The store path of the image to show, and where (a camera's place or the clip's); no image
    of a camera read from before ``old`` (past the ANPR access limit: it needs an approval)."""
    if a.kind == EventKind.CANDIDATE:
        c = s.get(CandidateRow, data.get("candidate_id"))
        if c is None or not can_be_sent(a.kind, c.review_state):
            raise InvalidRequest("Only a potential match a person has confirmed can be sent to an officer")
        ev = s.get(Evidence, c.evidence_id)
        place = place_words((ev.media or {}).get("location")) if ev else None
        return (c.track.crop.store_path if c.track and c.track.crop else None), place
    if a.kind == EventKind.ANPR_HIT:
        from evidence.db.tables import AnprRead, PlateSightingRow

        place = hit_facts(s, data)["place"]  # the camera's, or the clip's where it says
        if data.get("read_id"):
            read = s.get(AnprRead, data["read_id"])
            image = read.overview_image or read.plate_image if read and read.read_at >= old else None
            return image, place
        row = s.get(PlateSightingRow, data.get("sighting_id"))
        return (row.overview.store_path if row and row.overview else None), place
    raise InvalidRequest("Only potential matches and hotlist hits are sent to officers")


def _share(s: Session, token: str) -> Share:
    from evidence.errors import Gone

    share = s.scalar(select(Share).where(Share.token_sha256 == secret_digest(token)))
    if share is None:
        raise NotFound("This link is not known")
    if share.expires_at < utcnow():
        raise Gone("This link has expired: ask the control room to send the alert again")
    return share


def open_share(rt: Runtime, token: str) -> Share:
    """The share behind an officer's link, recorded as viewed; Gone once it has expired."""
    with rt.sessions.begin() as s:
        share = _share(s, token)
        append_audit(s, Actor(f"officer-link:{share.id}", "officer"), "alert.share_view", f"alert:{share.alert_id}")
        return share


def officer_reply(rt: Runtime, token: str, reply: str) -> Share:
    """The officer's answer from the link (received, attending): kept on the share, and an
    ``alert.reply`` event to the desk and the incident's board. Audited."""
    if reply not in REPLIES:
        raise InvalidRequest(f"Answer one of: {', '.join(REPLIES)}")
    with rt.sessions.begin() as s:
        share = _share(s, token)
        share.reply, share.replied_at = reply, utcnow()
        a, device = s.get(Alert, share.alert_id), s.get(Subscription, share.device_id)
        assert a is not None and device is not None
        add_event(s, a.incident_id, EventKind.ALERT_REPLY, {"alert_id": a.id, "device": device.name, "reply": reply,
                                                     "summary": a.summary})
        append_audit(s, Actor(f"officer-link:{share.id}", "officer"), "alert.share_reply", f"alert:{a.id}",
                     detail={"reply": reply, "device": device.name})
        return share


def alerts_of_events(s: Session, event_ids: list[int]) -> dict[int, Alert]:
    """The alert each event raised, by event id."""
    if not event_ids:
        return {}
    return {a.event_id: a for a in s.scalars(select(Alert).where(Alert.event_id.in_(event_ids)))}


def shares_of(s: Session, alert_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """Where each alert was sent, in order: the device, who sent it and when, how the delivery
    stands (queued, delivered, failed and why) and the officer's answer."""
    if not alert_ids:
        return {}
    rows = s.execute(select(Share, Subscription.name).join(Subscription, Subscription.id == Share.device_id)
                     .where(Share.alert_id.in_(alert_ids)).order_by(Share.id)).all()
    deliveries = {d.key: d for d in s.scalars(select(Delivery).where(
        Delivery.key.in_([f"share{sh.id}" for sh, _ in rows])))} if rows else {}
    out: dict[int, list[dict[str, Any]]] = {}
    for sh, device in rows:
        d = deliveries.get(f"share{sh.id}")
        state = "queued" if d is None or d.state == "pending" else d.state
        out.setdefault(sh.alert_id, []).append({
            "device": device, "by": sh.created_by, "sent_clock": sh.created_at.strftime("%H:%M"),
            "delivery": state, "attempts": d.attempts if d else 0,
            "error": d.last_error if d is not None and d.state != "delivered" else None,
            "reply": sh.reply, "reply_clock": sh.replied_at.strftime("%H:%M") if sh.replied_at else None})
    return out
