"""What the API answers: one response model per shape, named ``XPublic`` (what callers see of a
stored thing) or for what they hold. A field name means one thing everywhere: ``*_url`` is a
route of this API, ``*_sha256`` a file's hash, ``*_s`` seconds into the clip, ``at``/``*_at`` a
UTC time."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "multipart_body", "AlertPublic", "DeliveryPublic", "DevicePublic", "SentPublic", "SubscriptionCreated",
    "SubscriptionPublic", "WitnessStatusPublic", "PublicUpdated", "AppearancePublic", "BatchResult", "CandidatePublic", "EventPublic", "EvidenceDetail", "EvidencePublic",
    "EvidenceUploaded", "FaceSearchResult", "Health", "HotlistEntryPublic", "IncidentDetail", "IncidentPublic",
    "PeopleResult", "PersonPublic", "PlateHit", "PlateSearchResult", "PlateSightingPublic", "ReadError", "ReadResult",
    "Receipt", "Removed", "ReviewResult", "SubjectPublic", "UploadLinkPublic",
]


def multipart_body(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    """The OpenAPI request body (``openapi_extra``) of a route that reads its multipart form itself."""
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "properties": properties, "required": required}}}}}


class Health(BaseModel):
    status: Literal["ok"]
    version: str


class ReadyCheckOut(BaseModel):
    name: str = Field(description="database, store, redis or workers")
    ok: bool
    detail: str = Field(description="what was found, or what is wrong")


class Ready(BaseModel):
    ready: bool
    checks: list[ReadyCheckOut]


class IncidentPublic(BaseModel):
    id: int
    reference: str
    title: str
    incident_type: str | None = Field(None, description="e.g. 'antisocial behaviour' (subscriptions filter on it)")
    created_at: datetime
    watchlists: list[str] = Field([], description="the watchlists its footage is matched against (empty: the default)")
    retention: dict[str, Any] | None = Field(None, description="its retention class, review date and investigation "
                                             "hold (who, when, why)")
    status: Literal["open", "closed"] = Field("open", description="closed: its upload links no longer work")
    closed: dict[str, Any] | None = Field(None, description="the last time it was closed: by, at (UTC), why")
    assigned_to: str | None = Field(None, description="the member of staff who has it (a user's name)")


class EvidencePublic(BaseModel):
    id: int
    sha256: str = Field(description="of the original, computed as it arrived")
    name: str = Field(description="the sender's file name")
    size_bytes: int
    duration_s: float
    codec: str | None
    size_wh: list[int] | None
    rotation_deg: int | None
    creation_time: str | None = Field(description="as the file's metadata says (often wrong)")
    location: str | None = Field(description="ISO 6709, as the file's metadata says")
    state: str = Field(description="queued, ingesting, analysing, done or failed")
    progress: float
    failure_reason: str | None


class EvidenceUploaded(EvidencePublic):
    duplicate: bool = Field(description="the same bytes were already on this incident: that evidence")


class CandidatePublic(BaseModel):
    """A potential match, never an identification: a person confirms or rejects it."""

    id: int
    subject: str
    rank: int
    score: float
    distance: float
    threshold: float = Field(description="the distance threshold in force when it was raised")
    t_s: float = Field(description="when the face was first seen")
    crop_t_s: float = Field(description="the frame the crop is from")
    track: int
    model_version: str
    review_state: str = Field(description="pending, confirmed, rejected or superseded")
    reviewed_by: str | None
    crop_url: str | None
    watchlist: str | None = Field(None, description="the list the subject was matched on")
    subject_version: int | None = Field(None, description="the version of the subject's references matched")
    authority: str | None = Field(None, description="the officer who authorised that list")


class PlateSightingPublic(BaseModel):
    """A vehicle's plate in footage: its reads voted into a registration, to verify against the crop."""

    id: int
    plate: str
    format: str | None
    valid: bool = Field(description="fits a UK format")
    region: str | None = Field(None, description="the plate's country as its reader placed it (ISO 3166-1 alpha-2, "
                               "GB for a UK plate); null when the reader could not say")
    confidence: float
    alternatives: list[tuple[str, float]] = Field(description="other registrations read, with their share of the vote")
    first_t_s: float
    last_t_s: float
    best_t_s: float
    xyxy: list[float]
    n_reads: int
    review_state: str
    reviewed_by: str | None
    crop_sha256: str | None
    overview_sha256: str | None
    crop_url: str | None = None
    overview_url: str | None = None


class EvidenceDetail(EvidencePublic):
    candidates: list[CandidatePublic]
    plates: list[PlateSightingPublic]


class IncidentDetail(IncidentPublic):
    evidence: list[EvidenceDetail]


class EventPublic(BaseModel):
    """One event of an incident (its id is the SSE id); the fields beside ``kind`` depend on it."""

    model_config = ConfigDict(extra="allow")
    id: int
    at: datetime
    kind: str


class ReviewResult(BaseModel):
    id: int
    review_state: str
    reviewed_by: str | None
    reason: str | None


class UploadLinkPublic(BaseModel):
    id: int
    token: str = Field(description="shown once; only its hash is kept")
    url: str = Field(description="the one-shot upload (POST multipart `file`), for programs")
    page_url: str = Field(description="the witness's page (resumable upload, phone first): the link to send them")
    expires_at: datetime
    max_uploads: int
    max_bytes: int


class Receipt(BaseModel):
    """What a member of the public is told: the file arrived, with its fingerprint."""

    received: Literal[True]
    sha256: str
    name: str
    size_bytes: int
    status_url: str | None = Field(None, description="the sender's private page: where the video is (received, "
                                                     "being examined, reviewed, passed to investigators)")


class SubjectPublic(BaseModel):
    id: int
    name: str
    references: int = Field(description="reference photos enrolled")
    watchlist: str | None = Field(None, description="the list the subject is on")
    expires_at: datetime | None = Field(None, description="when the subject is purged (None: with its list)")
    version: int = Field(1, description="changes to the subject's references")
    source: str | None = Field(None, description="where the photos come from, e.g. a custody image reference")
    reason: str | None = Field(None, description="why they are on the list")
    risk: str | None = Field(None, description="warning markers an officer must know before approaching them")
    added_by: str = Field("", description="who enrolled them")


class Removed(BaseModel):
    id: int
    removed: Literal[True]
    name: str | None = None


class ReadResult(BaseModel):
    read_id: int | None = Field(description="None for a duplicate")
    duplicate: bool
    hit: bool = Field(description="on the hotlist (the camera is never told which entry or why)")


class ReadError(BaseModel):
    index: int
    code: str
    message: str


class BatchResult(BaseModel):
    stored: int
    duplicates: int
    hits: int = Field(description="reads on the hotlist")
    errors: list[ReadError]


class AlprdResult(BaseModel):
    data_type: str
    stored: int = 0
    duplicates: int = 0
    hits: int = Field(0, description="reads on the hotlist (the camera is never told which entry or why)")
    errors: list[ReadError] = []
    cameras: list[str] = Field([], description="a heartbeat: the cameras it covered")


class CameraHealth(BaseModel):
    camera_id: str
    last_read_at: datetime | None
    last_heartbeat_at: datetime | None
    streaming: bool | None = Field(description="as the last heartbeat said")
    silent_since: datetime | None = Field(description="when the silence alert was raised; None while heard from")
    status: dict[str, Any] = Field(description="the last heartbeat's figures (fps, agent version, ...)")


class HotlistEntryPublic(BaseModel):
    id: int
    vrm: str
    reason: str
    category: str
    incident_id: int | None
    expires_at: datetime | None
    added_by: str
    added_at: datetime


class PlateHit(BaseModel):
    """A sighting of a plate: a camera's read (``source`` camera) or a plate in footage (footage)."""

    source: Literal["camera", "footage"]
    vrm: str
    confidence: float
    location: Any = Field(None, description="a camera's location object, or footage's ISO 6709 string")
    plate_image_url: str | None
    overview_image_url: str | None
    read_id: int | None = None
    vrm_read: str | None = None
    camera_id: str | None = None
    at: datetime | None = None
    direction: str | None = None
    sighting_id: int | None = None
    evidence_id: int | None = None
    incident_id: int | None = None
    evidence_name: str | None = None
    t_s: float | None = None
    first_t_s: float | None = None
    last_t_s: float | None = None
    review_state: str | None = None


class PlateSearchResult(BaseModel):
    query: str
    count: int
    reads_since: datetime | None = Field(None, description="camera reads were searched from this time: the access "
                                         "limit (90 days) unless `since` and an approved `access` say otherwise")
    results: list[PlateHit]


class AppearancePublic(BaseModel):
    """A face track in processed footage, at a distance from the face looked for: a candidate for
    a person to check, never an identity."""

    rank: int | None = None
    track_id: int
    evidence_id: int
    incident_id: int | None
    evidence_name: str
    evidence_sha256: str
    track: int
    t_s: float
    first_t_s: float
    last_t_s: float
    recorded_at: str | None
    location: str | None
    distance: float
    crop_url: str | None


class FaceSearchResult(BaseModel):
    probe_sha256: str | None = None
    probe_name: str | None = None
    max_distance: float
    model: str
    embedder: str = Field("", description="the face embedder the probe and every track compared were made by")
    indexed: int
    results: list[AppearancePublic]
    not_compared: int = Field(0, description="tracks another embedder made: never compared with this one's vectors")
    not_compared_reason: str | None = Field(None, description="what to run so that they are (evidence models reembed)")


class PersonPublic(BaseModel):
    person: str
    appearances: list[AppearancePublic]
    clips: int
    elsewhere: list[AppearancePublic]


class PeopleResult(BaseModel):
    incident_id: int
    threshold: float
    unknown_tracks: int
    people: list[PersonPublic]
    not_compared: int = Field(0, description="the incident's tracks another embedder made: not grouped")
    not_compared_reason: str | None = None


class AlertPublic(BaseModel):
    id: int
    kind: str = Field(description="candidate, anpr.hit, evidence.failed, subscription.failing or anpr.camera_silent")
    event_id: int = Field(description="the event that raised it (its data: GET /incidents/{id}/timeline, the desk feed)")
    incident_id: int | None
    incident: str | None = Field(description="the incident's reference; none for a hit on an entry linked to none")
    summary: str
    raised_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    note: str | None
    escalated_at: datetime | None = Field(description="when it was escalated, nobody having acknowledged it in time")


class SentPublic(BaseModel):
    summary: str
    incident: str | None
    location: str | None
    note: str
    sent_by: str
    expires_at: datetime = Field(description="when the officer's link to the image stops working")
    alert_id: int


class SubscriptionPublic(BaseModel):
    id: int
    name: str
    purpose: Literal["subscriber", "device"]
    events: list[str]
    channel: Literal["webhook", "email"]
    target: str = Field(description="the webhook URL or the email address")
    filters: dict[str, Any]
    state: Literal["active", "failing", "stopped"]
    failures: int = Field(description="failed attempts in a row")
    created_by: str
    created_at: datetime
    retry_at: datetime | None = Field(description="nothing is sent to it before this (backing off)")


class SubscriptionCreated(SubscriptionPublic):
    secret: str = Field(description="signs the webhooks (HMAC-SHA256); shown this once")


class DeliveryPublic(BaseModel):
    id: int
    subscription_id: int | None
    event_id: int | None
    kind: str
    channel: str
    target: str
    state: Literal["pending", "delivered", "failed"]
    attempts: int
    created_at: datetime
    next_at: datetime
    delivered_at: datetime | None
    last_status: int | None
    last_error: str | None
    log: list[dict[str, Any]] = Field(description="each attempt: at, status, error")


class DevicePublic(BaseModel):
    id: int
    name: str
    channel: str


class WitnessStatusPublic(BaseModel):
    reference: str
    received_at: datetime
    step: int = Field(ge=1, le=4)
    steps: list[dict[str, Any]] = Field(description="each step: key, title, text, reached")
    updates: list[dict[str, Any]] = Field(description="public updates on the incident: at, text")
    emails: bool = Field(description="emails go to the address given")


class PublicUpdated(BaseModel):
    incident_id: int
    text: str
