"""A witness's view of what became of their video, in plain words and nothing more: received →
being examined → reviewed → passed to investigators, and the short public updates the control
room posts. Never an identity, a crop, a score or another piece of evidence. A witness who gave an
email address and asked gets one email at each step; stopping them is one click."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from evidence.db.outbox_tables import Delivery, WitnessStatus
from evidence.db.tables import CandidateRow, Evidence, IncidentEvent, PlateSightingRow
from evidence.eventkinds import EventKind, witness_hears
from evidence.keys import secret_digest
from evidence.notify.bus import queued
from evidence.states import EvidenceState, ReviewState
from evidence.utc import utcnow

__all__ = ["STEPS", "WitnessView", "add_status", "on_event", "stop_emails", "witness_reference", "witness_view"]

STEPS = (("received", "Received", "We have your video and have kept an exact copy."),
         ("examining", "Being examined", "Your video is being looked at."),
         ("reviewed", "Reviewed", "The checks on your video are complete."),
         ("passed", "Passed to investigators", "Your video is with the investigators dealing with this."))
WAKING = witness_hears()  # what may move a witness's video on a step (or tell them something)


@dataclass(frozen=True)
class WitnessView:
    reference: str
    received_at: datetime
    step: int  # 1..4
    updates: list[tuple[datetime, str]]
    emails: bool


def _step(s: Session, ev: Evidence) -> int:
    if ev.incident_id is not None and s.scalar(select(exists().where(
            IncidentEvent.incident_id == ev.incident_id, IncidentEvent.kind == EventKind.INCIDENT_PASSED,
            IncidentEvent.id > _received_event(s, ev)))):
        return 4
    if ev.state in (EvidenceState.DONE, EvidenceState.FAILED):
        pending = s.scalar(select(exists().where(CandidateRow.evidence_id == ev.id,
                                                 CandidateRow.review_state == ReviewState.PENDING)))
        pending = pending or s.scalar(select(exists().where(PlateSightingRow.evidence_id == ev.id,
                                                            PlateSightingRow.review_state == ReviewState.PENDING)))
        return 2 if pending else 3
    return 2 if ev.state in (EvidenceState.INGESTING, EvidenceState.ANALYSING) else 1


def _received_event(s: Session, ev: Evidence) -> int:
    found = s.scalar(select(IncidentEvent.id).where(IncidentEvent.incident_id == ev.incident_id,
                                                    IncidentEvent.kind == EventKind.EVIDENCE_RECEIVED)
                     .where(IncidentEvent.data["evidence_id"].as_integer() == ev.id).limit(1))
    return int(found or 0)


def witness_reference(seed: str) -> str:
    """What the sender quotes: short, unambiguous, random (from an upload's random id, or a fresh
    token) — nothing about the incident, nor how many videos came before."""
    return "WV-" + "".join(c for c in seed.upper() if c.isalnum())[:8]


def add_status(s: Session, evidence_id: int, reference: str, email: str | None) -> str:
    """A status link for the sender of ``evidence_id``; returns its token (shown once, on the receipt)."""
    token = secrets.token_urlsafe(24)
    row = WitnessStatus(token_sha256=secret_digest(token), evidence_id=evidence_id, reference=reference, email=email,
                        link_token=token if email else None)
    s.add(row)
    s.flush()
    _email_step(s, row)
    return token


def _email_step(s: Session, row: WitnessStatus, update: tuple[int, str] | None = None) -> None:
    if not row.email or row.emails_stopped_at is not None:
        return
    ev = s.get(Evidence, row.evidence_id)
    if ev is None:
        return
    if update is not None:
        body: dict[str, Any] = {"update": update[1]}
        key = f"w{row.id}:u{update[0]}"
    else:
        step = _step(s, ev)
        if step <= row.step_emailed:
            return
        row.step_emailed = step
        key, body = f"w{row.id}:step{step}", {"step": step, "title": STEPS[step - 1][1], "text": STEPS[step - 1][2]}
    s.add(Delivery(key=key, kind="witness.update" if update else "witness.step", channel="email", target=row.email,
                   payload={"reference": row.reference, "status_path": f"/s/{row.link_token}", **body}))
    queued(s, 0)


def on_event(s: Session, event: IncidentEvent) -> None:
    """An event that may move a witness's video on a step (or is a public update)."""
    if event.kind not in WAKING or event.incident_id is None:
        return
    d: dict[str, Any] = event.data
    q = select(WitnessStatus).join(Evidence, Evidence.id == WitnessStatus.evidence_id).where(
        WitnessStatus.email.is_not(None), WitnessStatus.emails_stopped_at.is_(None))
    if event.kind in (EventKind.INCIDENT_PASSED, EventKind.PUBLIC_UPDATE):
        q = q.where(Evidence.incident_id == event.incident_id)
    else:
        q = q.where(Evidence.id == d.get("evidence_id"))
    for row in s.scalars(q):
        _email_step(s, row, (event.id, str(d.get("text", ""))) if event.kind == EventKind.PUBLIC_UPDATE else None)


def witness_view(s: Session, token: str) -> WitnessView | None:
    row = s.scalar(select(WitnessStatus).where(WitnessStatus.token_sha256 == secret_digest(token)))
    ev = s.get(Evidence, row.evidence_id) if row else None
    if row is None or ev is None:
        return None
    updates = [] if ev.incident_id is None else [
        (e.at, str(e.data.get("text", ""))) for e in s.scalars(
            select(IncidentEvent).where(IncidentEvent.incident_id == ev.incident_id, IncidentEvent.kind == EventKind.PUBLIC_UPDATE,
                                        ).order_by(IncidentEvent.id))]
    return WitnessView(row.reference, row.created_at, _step(s, ev), updates,
                       bool(row.email) and row.emails_stopped_at is None)


def stop_emails(s: Session, token: str) -> bool:
    row = s.scalar(select(WitnessStatus).where(WitnessStatus.token_sha256 == secret_digest(token)))
    if row is None:
        return False
    if row.emails_stopped_at is None:
        row.emails_stopped_at, row.link_token = utcnow(), None
        for d in s.scalars(select(Delivery).where(Delivery.key.like(f"w{row.id}:%"), Delivery.state == "pending")):
            d.state, d.last_error = "failed", "the witness stopped the emails"
    return True

