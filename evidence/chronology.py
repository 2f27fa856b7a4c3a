"""An incident's chronology: everything that happened to it, in time order, in words — evidence
received (with what its sender said and how to reach them), analysis, potential matches and their
reviews, hotlist hits and plates, alerts and what was sent to officers and their answers, updates
to witnesses. The board's timeline, the chronology page, its CSV and the evidence package all read
it from here, so an event is worded once."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from evidence.db.outbox_tables import Alert, Delivery, Share, Subscription
from evidence.db.tables import Evidence, IncidentEvent
from evidence.alerts import alerts_of_events, can_be_sent
from evidence.eventkinds import CATALOGUE, EventKind, in_words
from evidence.reports import sender_view

__all__ = ["GROUPS", "IN_CHRONOLOGY", "chronology", "chronology_csv", "sendable_rows"]

SHARED = "officer.share"  # a message sent to an officer (a delivery, not an event): in the chronology too
GROUPS = {"evidence": "Evidence and analysis", "matches": "Potential matches and reviews",
          "vehicles": "Hotlist hits and plates", "messages": "Alerts, officers and links",
          "witnesses": "Witnesses and case"}
_GROUP_OF = {k: spec.chronology for k, spec in CATALOGUE.items() if spec.chronology}
IN_CHRONOLOGY = (*_GROUP_OF, SHARED)


def _by(kind: str, d: dict[str, Any]) -> str:
    who = str(d.get("reviewed_by") or d.get("by") or d.get("device") or ("system" if kind.startswith(
        ("evidence.", EventKind.CANDIDATE, "anpr.", "plate.", EventKind.ALERT_ESCALATED)) else ""))
    return "a witness (upload link)" if who.startswith("public:link:") else who


def events_in_words(s: Session, events: list[IncidentEvent]) -> dict[int, str]:
    """{event id: what it says} for the incident's pages (chronology and board timeline): a link
    sent to a witness says how its message stands now — never "sent" for a message that did not go."""
    sends = [int(e.data["delivery"]) for e in events if e.kind == EventKind.UPLOAD_LINK_SENT and "delivery" in e.data]
    deliveries = {d.id: d for d in s.scalars(select(Delivery).where(Delivery.id.in_(sends)))} if sends else {}
    words = {}
    for e in events:
        what = in_words(e.kind, e.data or {})
        if e.kind == EventKind.UPLOAD_LINK_SENT and (sent := deliveries.get(int((e.data or {}).get("delivery") or 0))):
            if sent.state == "failed":
                what = what.replace("sent", "not sent", 1) + f" ({sent.last_error})"
            elif sent.state == "pending":
                what = what.replace("sent", "being sent", 1)
        words[e.id] = what
    return words


def chronology(s: Session, incident_id: int, groups: set[str] | None = None) -> list[dict[str, Any]]:
    """The incident's events and the messages sent to officers about it, oldest first; only
    ``groups`` (keys of GROUPS) when given. Each: at (UTC), group, what, by, and for evidence
    received from a witness what they said and their contact (staff only: never the public)."""
    rows: list[dict[str, Any]] = []
    events = list(s.scalars(select(IncidentEvent).where(IncidentEvent.incident_id == incident_id,
                                                        IncidentEvent.kind.in_(IN_CHRONOLOGY)).order_by(IncidentEvent.id)))
    senders = {ev.id: sender_view(ev) for ev in s.scalars(select(Evidence).where(Evidence.incident_id == incident_id))}
    words = events_in_words(s, events)
    for e in events:
        d = e.data or {}
        row = {"at": e.at, "group": _GROUP_OF[EventKind(e.kind)], "kind": e.kind, "what": words[e.id], "by": _by(e.kind, d),
               "said": None, "contact": None, "event_id": e.id, "data": d}
        if e.kind == EventKind.EVIDENCE_RECEIVED and (sender := senders.get(d.get("evidence_id") or 0)):
            row["said"], row["contact"] = sender.get("caption"), sender.get("contact")
        rows.append(row)
    shares = s.execute(select(Share, Alert.summary, Subscription.name).join(Alert, Alert.id == Share.alert_id)
                       .join(Subscription, Subscription.id == Share.device_id)
                       .where(Alert.incident_id == incident_id))
    for share, summary, device in shares:
        note = (share.sent or {}).get("note")
        rows.append({"at": share.created_at, "group": "messages", "kind": SHARED,
                     "what": f"Sent to an officer: {summary} to {device}" + (f" (“{note}”)" if note else ""),
                     "by": share.created_by, "said": None, "contact": None, "event_id": None, "data": {}})
    rows.sort(key=lambda r: r["at"])
    return [r for r in rows if groups is None or r["group"] in groups]


def sendable_rows(s: Session, incident_id: int, rows: list[dict[str, Any]]) -> dict[int, int]:
    """{row index: alert id} of the rows that can be sent to an officer: a hit, and the review that
    confirmed a potential match (its alert is the match's)."""
    matches = {int(e.data["candidate_id"]): e.id for e in s.scalars(select(IncidentEvent).where(
        IncidentEvent.incident_id == incident_id, IncidentEvent.kind == EventKind.CANDIDATE)) if "candidate_id" in e.data}
    wanted: dict[int, int] = {}
    for i, r in enumerate(rows):
        if r["kind"] == EventKind.ANPR_HIT:
            wanted[i] = r["event_id"]
        elif r["kind"] == EventKind.CANDIDATE_REVIEWED and can_be_sent(EventKind.CANDIDATE, r["data"].get("review_state")):
            if (event := matches.get(int(r["data"].get("candidate_id") or 0))) is not None:
                wanted[i] = event
    alerts = alerts_of_events(s, list(wanted.values())) if wanted else {}
    return {i: alerts[e].id for i, e in wanted.items() if e in alerts}


def chronology_csv(rows: list[dict[str, Any]], zone: Any) -> str:
    """The chronology as CSV: the time in UTC and in the force's time zone, then the words."""
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["time_utc", "time_local", "group", "what", "by", "witness_said", "witness_contact"])
    for r in rows:
        at: datetime = r["at"]
        w.writerow([at.isoformat(), at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z"), GROUPS[r["group"]],
                    _cell(r["what"]), _cell(r["by"]), _cell(r["said"] or ""), _cell(r["contact"] or "")])
    return out.getvalue()


def _cell(text: str) -> str:
    """A cell a spreadsheet will not run as a formula (CSV injection)."""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
