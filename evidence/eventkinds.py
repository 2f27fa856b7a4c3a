"""The catalogue of incident events: every kind the system writes, with the shape of what it carries,
its name in words, who may see it, whether it needs a person on the desk, whether a subscription may
ask for it (and what of it leaves the building), and whether a witness hears of it.

Producers write an event with ``evidence.events.add_event(s, incident_id, EventKind.X, payload)``:
the payload is checked against the kind's model there, in the transaction of what it reports. The
consumers — the live feeds, the desk's alerts, the outbox's deliveries, a witness's steps, the
metrics, the pages' scripts (served :func:`for_pages`) — take kinds, wording and rules from here,
never from a string of their own."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from evidence.states import READERS, Role

__all__ = ["CATALOGUE", "EventKind", "Spec", "alerting", "described", "for_pages", "in_words", "subscribable", "validate", "witness_hears",
           "wording"]


class EventKind(StrEnum):
    """The kinds of incident event (the ``kind`` of the events table, the SSE event's ``kind``, the
    webhook's ``type``)."""

    EVIDENCE_RECEIVED = "evidence.received"
    EVIDENCE_ANALYSING = "evidence.analysing"
    EVIDENCE_PROGRESS = "evidence.progress"
    EVIDENCE_DONE = "evidence.done"
    EVIDENCE_FAILED = "evidence.failed"
    CANDIDATE = "candidate"
    CANDIDATE_REVIEWED = "candidate.reviewed"
    PLATE_SIGHTING = "plate.sighting"
    PLATE_REVIEWED = "plate.reviewed"
    ANPR_HIT = "anpr.hit"
    ANPR_CAMERA_SILENT = "anpr.camera_silent"
    ANPR_CAMERA_BACK = "anpr.camera_back"
    ALERT_ACKNOWLEDGED = "alert.acknowledged"
    ALERT_ESCALATED = "alert.escalated"
    ALERT_REPLY = "alert.reply"
    INCIDENT_ASSIGNED = "incident.assigned"
    INCIDENT_CLOSED = "incident.closed"
    INCIDENT_REOPENED = "incident.reopened"
    INCIDENT_PASSED = "incident.passed"
    PUBLIC_UPDATE = "public.update"
    UPLOAD_LINK_CREATED = "upload_link.created"
    UPLOAD_LINK_SENT = "upload_link.sent"
    SUBSCRIPTION_FAILING = "subscription.failing"


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Alerting(_Payload):
    alert_id: int | None = None  # the desk's alert the event raised (added as it is written)


class EvidenceReceived(_Payload):
    evidence_id: int
    name: str
    sha256: str
    size_bytes: int
    duration_s: float | None
    by: str
    role: str
    reference: str | None = None  # a witness's reference, for an upload through a link


class EvidenceAnalysing(_Payload):
    evidence_id: int
    progress: float


class EvidenceProgress(_Payload):
    evidence_id: int
    progress: float
    finished: str  # the part of the analysis that finished ("faces 3")


class EvidenceDone(_Payload):
    evidence_id: int
    progress: float
    tracks: int


class EvidenceFailed(_Alerting):
    evidence_id: int
    reason: str


class Candidate(_Alerting):
    """A potential match, as ``evidence.reports.candidate_view`` shows it: ``t_s`` is when the face
    was first seen, ``crop_t_s`` the frame its crop is from."""

    candidate_id: int
    evidence_id: int
    subject: str
    rank: int
    score: float
    distance: float
    threshold: float
    t_s: float
    crop_t_s: float
    track: int
    model_version: str
    review_state: str
    reviewed_by: str | None
    watchlist: str | None
    subject_version: int | None
    authority: str | None
    crop_url: str


class CandidateReviewed(Candidate):
    reason: str


class PlateSighting(_Payload):
    evidence_id: int
    sighting_id: int
    plate: str
    confidence: float
    t_s: float  # the sighting's best frame
    valid: bool


class PlateReviewed(_Payload):
    evidence_id: int
    sighting_id: int
    plate: str
    review_state: str
    reviewed_by: str
    reason: str


class AnprHit(_Alerting):
    """A hotlisted registration read by a camera (``read_id``) or seen in footage (``sighting_id``):
    a potential match to verify against the image before acting."""

    source: str | None = None  # "footage" for a sighting in footage; absent for a camera's read
    read_id: int | None = None
    camera_id: str | None = None
    read_at: str | None = None
    vrm_read: str | None = None
    sighting_id: int | None = None
    evidence_id: int | None = None
    t_s: float | None = None
    vrm: str
    hotlist_id: int
    hotlist_vrm: str
    reason: str
    category: str
    confidence: float | None
    location: dict[str, Any] | None = None  # the camera's location object (lat, lon, name, …) as it sent it
    direction: str | None = None
    format: str | None = None
    exact: bool
    on_alternative_read: bool
    matched_read: dict[str, Any] | None = None
    plate_image_url: str | None
    overview_image_url: str | None
    verify: str


class AnprCameraSilent(_Alerting):
    camera_id: str
    last_read_at: str | None
    last_heartbeat_at: str | None
    streaming: bool | None
    silent_s: int | None
    after_s: float


class AnprCameraBack(_Payload):
    camera_id: str
    silent_since: str | None


class AlertAcknowledged(_Payload):
    alert_id: int
    by: str
    role: str
    note: str
    summary: str


class AlertEscalated(_Payload):
    alert_id: int
    alert_kind: str  # the kind of the event that raised the alert
    summary: str
    after_s: float


class AlertReply(_Payload):
    alert_id: int
    device: str
    reply: str
    summary: str


class IncidentAssigned(_Payload):
    by: str
    to: str | None


class IncidentClosed(_Payload):
    by: str
    reason: str
    links_ended: int


class IncidentReopened(_Payload):
    by: str
    reason: str


class IncidentPassed(_Payload):
    by: str
    reason: str


class PublicUpdate(_Payload):
    text: str
    by: str


class UploadLinkCreated(_Payload):
    link: int
    by: str
    expires_at: str


class UploadLinkSent(_Payload):
    link: int
    by: str
    how: str
    to: str
    delivery: int


class SubscriptionFailing(_Alerting):
    subscription_id: int
    name: str
    error: str | None
    failures: int


_STAFF = tuple(READERS)
_DESK = (Role.CONTROL_ROOM, Role.ADMIN)
_ADMIN = (Role.ADMIN,)


@dataclass(frozen=True)
class Spec:
    """What the system knows about a kind. ``outgoing``: the payload's fields a subscription's
    message carries (evidence itself never leaves: ids, scores, reads and links that need an
    account); ``hint``: what an administrator choosing subscriptions is told besides its name."""

    payload: type[_Payload]
    wording: str
    audience: tuple[Role, ...]
    alerts: bool = False
    witness: bool = False
    outgoing: tuple[str, ...] | None = None  # None: no subscription may ask for it
    hint: str = ""
    chronology: str | None = None  # the incident chronology's group (evidence.chronology.GROUPS); None: not in it


def _fields(model: type[_Payload], *leave_out: str) -> tuple[str, ...]:
    return tuple(n for n in model.model_fields if n not in leave_out)


CATALOGUE: dict[EventKind, Spec] = {
    EventKind.EVIDENCE_RECEIVED: Spec(EvidenceReceived, "Video received", _STAFF, outgoing=("evidence_id",),
                                      hint="no evidence sent", chronology="evidence"),
    EventKind.EVIDENCE_ANALYSING: Spec(EvidenceAnalysing, "Analysis started", _STAFF, witness=True, chronology="evidence"),
    EventKind.EVIDENCE_PROGRESS: Spec(EvidenceProgress, "Analysis progress", _STAFF),
    EventKind.EVIDENCE_DONE: Spec(EvidenceDone, "Analysis done", _STAFF, witness=True, outgoing=("evidence_id",), chronology="evidence"),
    EventKind.EVIDENCE_FAILED: Spec(EvidenceFailed, "Analysis failed", _STAFF, alerts=True, witness=True,
                                    outgoing=("evidence_id", "reason", "alert_id"), chronology="evidence"),
    EventKind.CANDIDATE: Spec(Candidate, "Potential match", _STAFF, alerts=True,
                              outgoing=("candidate_id", "evidence_id", "subject", "score", "distance", "threshold",
                                        "t_s", "crop_t_s", "review_state", "crop_url", "alert_id"), chronology="matches"),
    EventKind.CANDIDATE_REVIEWED: Spec(CandidateReviewed, "Potential match reviewed", _STAFF, witness=True,
                                       outgoing=("candidate_id", "evidence_id", "subject", "review_state",
                                                 "reviewed_by"), chronology="matches"),
    EventKind.PLATE_SIGHTING: Spec(PlateSighting, "Plate seen", _STAFF, chronology="vehicles"),
    EventKind.PLATE_REVIEWED: Spec(PlateReviewed, "Plate reviewed", _STAFF, witness=True),
    EventKind.ANPR_HIT: Spec(AnprHit, "Hotlist hit", _STAFF, alerts=True, outgoing=_fields(AnprHit), chronology="vehicles"),
    EventKind.ANPR_CAMERA_SILENT: Spec(AnprCameraSilent, "ANPR camera silent", _DESK, alerts=True,
                                       outgoing=_fields(AnprCameraSilent, "after_s")),
    EventKind.ANPR_CAMERA_BACK: Spec(AnprCameraBack, "ANPR camera back", _DESK, outgoing=_fields(AnprCameraBack)),
    EventKind.ALERT_ACKNOWLEDGED: Spec(AlertAcknowledged, "Alert acknowledged", _STAFF,
                                       outgoing=_fields(AlertAcknowledged), chronology="messages"),
    EventKind.ALERT_ESCALATED: Spec(AlertEscalated, "Alert escalated", _STAFF, outgoing=_fields(AlertEscalated),
                                    hint="nobody acknowledged it", chronology="messages"),
    EventKind.ALERT_REPLY: Spec(AlertReply, "Officer's answer", _STAFF, chronology="messages"),
    EventKind.INCIDENT_ASSIGNED: Spec(IncidentAssigned, "Incident assigned", _STAFF, chronology="witnesses"),
    EventKind.INCIDENT_CLOSED: Spec(IncidentClosed, "Incident closed", _STAFF, chronology="witnesses"),
    EventKind.INCIDENT_REOPENED: Spec(IncidentReopened, "Incident reopened", _STAFF, chronology="witnesses"),
    EventKind.INCIDENT_PASSED: Spec(IncidentPassed, "Passed to investigators", _STAFF, witness=True, chronology="witnesses"),
    EventKind.PUBLIC_UPDATE: Spec(PublicUpdate, "Public update", _STAFF, witness=True, chronology="witnesses"),
    EventKind.UPLOAD_LINK_CREATED: Spec(UploadLinkCreated, "Upload link made", _STAFF, chronology="messages"),
    EventKind.UPLOAD_LINK_SENT: Spec(UploadLinkSent, "Upload link sent", _STAFF, chronology="messages"),
    EventKind.SUBSCRIPTION_FAILING: Spec(SubscriptionFailing, "Notifications failing", _ADMIN, alerts=True,
                                         outgoing=_fields(SubscriptionFailing)),
}


def validate(kind: EventKind, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` as the kind's payload model takes it (``pydantic.ValidationError`` otherwise): a
    field the catalogue does not name is refused, so a kind's shape is written once."""
    CATALOGUE[EventKind(kind)].payload.model_validate(data)  # ValueError for a kind the catalogue does not have
    return data


def wording(kind: str) -> str:
    """The kind in words, as every page names it."""
    return CATALOGUE[EventKind(kind)].wording


def in_words(kind: str, d: dict[str, Any]) -> str:
    """One event in words, as the board's timeline and the chronology say it (and the feeds carry
    as ``what``)."""
    kind = EventKind(kind)
    extra = d.get("subject") or d.get("hotlist_vrm") or d.get("plate") or d.get("name") or ""
    if kind == EventKind.CANDIDATE_REVIEWED:
        extra = f"{d.get('subject')} {d.get('review_state')} by {d.get('reviewed_by')}"
    elif kind == EventKind.EVIDENCE_RECEIVED and d.get("reference"):
        extra = f"{d.get('name')}, witness reference {d['reference']}"
    elif kind == EventKind.INCIDENT_ASSIGNED:
        extra = f"to {d.get('to') or 'nobody'}"
    elif kind in (EventKind.PUBLIC_UPDATE, EventKind.ALERT_ACKNOWLEDGED, EventKind.ALERT_ESCALATED,
                  EventKind.INCIDENT_PASSED, EventKind.INCIDENT_CLOSED, EventKind.INCIDENT_REOPENED):
        extra = d.get("text") or d.get("summary") or d.get("reason") or ""
    elif kind == EventKind.UPLOAD_LINK_SENT:
        extra = f"by {d.get('how')} to {d.get('to')}"
    elif kind == EventKind.ALERT_REPLY:
        extra = f"{d.get('device')} {d.get('reply')} ({d.get('summary')})"
    elif kind == EventKind.EVIDENCE_PROGRESS:
        extra = f"{float(d.get('progress') or 0):.0%}"
    text = CATALOGUE[kind].wording
    return f"{text}: {extra}" if extra else text


def described(kind: str) -> str:
    """The kind in words with what an administrator choosing subscriptions needs to know of it."""
    spec = CATALOGUE[EventKind(kind)]
    return f"{spec.wording} ({spec.hint})" if spec.hint else spec.wording


def alerting() -> tuple[EventKind, ...]:
    """The kinds that need a person: each raises an alert on the desk."""
    return tuple(k for k, spec in CATALOGUE.items() if spec.alerts)


def subscribable() -> tuple[EventKind, ...]:
    """The kinds a subscription may ask for."""
    return tuple(k for k, spec in CATALOGUE.items() if spec.outgoing is not None)


def witness_hears() -> tuple[EventKind, ...]:
    """The kinds that may move a witness's video on a step (or tell them something)."""
    return tuple(k for k, spec in CATALOGUE.items() if spec.witness)


def for_pages() -> dict[str, Any]:
    """What the pages' scripts are served (each live page's ``ep-events`` JSON block): the kinds by
    name, each kind's wording, and the kinds an incident's timeline shows (its rows are rendered by
    the server: ``in_words``, sent as each event's ``what``)."""
    return {"kinds": {k.name: k.value for k in EventKind},
            "wording": {k.value: spec.wording for k, spec in CATALOGUE.items()},
            "timeline": [k.value for k, spec in CATALOGUE.items() if spec.chronology]}
