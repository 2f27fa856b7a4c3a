"""ORM tables. Evidence rows are never deleted by the pipeline; derivatives point at their parent
by hash; candidates stay ``pending`` until a named user confirms or rejects them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (JSON, BigInteger, DateTime, Dialect, ForeignKey, Index, Integer, LargeBinary, String, Text,
                        UniqueConstraint, text)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from evidence.states import EvidenceState, ReviewState, WorkState
from evidence.utc import as_utc, utcnow


class UTCDateTime(TypeDecorator[datetime]):
    """Every datetime column: UTC in, aware UTC out, on SQLite and PostgreSQL alike. SQLite keeps
    no time zone (SQLAlchemy would store an aware value's wall time and drop its offset), so the
    value is converted to UTC first; comparisons in queries go through the same conversion. A
    naive datetime is refused (ValueError): its zone is unknown."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = as_utc(value)
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, datetime: UTCDateTime()}


class Incident(Base):
    __tablename__ = "incidents"
    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    incident_type: Mapped[str | None] = mapped_column(String(64))  # e.g. "antisocial behaviour": subscriptions filter on it
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    watchlists: Mapped[list[Any] | None] = mapped_column(JSON)  # ids of the lists its footage is matched against
    retention_class: Mapped[str | None] = mapped_column(String(32))  # evidence.retention.CLASSES (None: default)
    review_at: Mapped[datetime | None]  # when its evidence's retention is next reviewed
    hold: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))  # marked for investigation: by, at, why
    status: Mapped[str] = mapped_column(String(16), default="open", server_default="open", index=True)  # open | closed
    closed: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))  # the last close: by, at, why
    assigned_to: Mapped[str | None] = mapped_column(String(100), index=True)  # a user's name
    evidence: Mapped[list[Evidence]] = relationship(back_populates="incident")


class Evidence(Base):
    __tablename__ = "evidence"
    __table_args__ = (UniqueConstraint("incident_id", "sha256", name="uq_evidence_incident_sha256"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    original_name: Mapped[str] = mapped_column(String(500))
    size_bytes: Mapped[int] = mapped_column(BigInteger)  # body-worn files pass 2 GiB
    store_path: Mapped[str] = mapped_column(String(500))
    media: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[str] = mapped_column(String(16), default=EvidenceState.QUEUED, index=True)  # EvidenceState
    progress: Mapped[float] = mapped_column(default=0.0)
    failure_reason: Mapped[str | None] = mapped_column(Text)
    provenance: Mapped[dict[str, Any]] = mapped_column(default=dict)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    # Who is analysing it now, until when (renewed while it runs): a crashed worker's lease runs
    # out and `evidence reconcile` hands the evidence to another; a second runner cannot take it.
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    # How it came in: by whom, and for public uploads the caption and contact the sender gave.
    submitted: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    incident: Mapped[Incident | None] = relationship(back_populates="evidence")


class WorkItem(Base):
    """One job's share of an evidence item's analysis (quick pass, segment, plates, working copy)."""

    __tablename__ = "work_items"
    __table_args__ = (UniqueConstraint("evidence_id", "kind", "index", name="uq_work_item"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    evidence_id: Mapped[int] = mapped_column(ForeignKey("evidence.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # WorkKind
    index: Mapped[int] = mapped_column(default=0)
    start_s: Mapped[float] = mapped_column(default=0.0)
    end_s: Mapped[float | None]
    state: Mapped[str] = mapped_column(String(16), default=WorkState.QUEUED)  # WorkState
    progress: Mapped[float] = mapped_column(default=0.0)
    frames: Mapped[int] = mapped_column(default=0)
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    plan: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=dict)  # from the ingest (the quick pass's key frames)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    finished_at: Mapped[datetime | None]


class Derivative(Base):
    """A file made from evidence (a face crop, a working copy): its own hash and its parent's."""

    __tablename__ = "derivatives"
    id: Mapped[int] = mapped_column(primary_key=True)
    evidence_id: Mapped[int] = mapped_column(ForeignKey("evidence.id", ondelete="CASCADE"), index=True)
    parent_sha256: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    sha256: Mapped[str] = mapped_column(String(64))
    store_path: Mapped[str] = mapped_column(String(500))
    made_by: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class FaceTrackRow(Base):
    __tablename__ = "face_tracks"
    # Ids never reused (SQLite AUTOINCREMENT): the face index follows them.
    __table_args__ = (UniqueConstraint("evidence_id", "track_index", name="uq_track_evidence_index"),
                      {"sqlite_autoincrement": True})
    id: Mapped[int] = mapped_column(primary_key=True)
    evidence_id: Mapped[int] = mapped_column(ForeignKey("evidence.id", ondelete="CASCADE"), index=True)
    track_index: Mapped[int]
    first_t_s: Mapped[float]
    last_t_s: Mapped[float]
    best_t_s: Mapped[float]
    best_xyxy: Mapped[list[float]] = mapped_column(JSON)
    n_detections: Mapped[int]
    quality: Mapped[float]
    closed: Mapped[bool] = mapped_column(default=False)
    embeddings: Mapped[bytes] = mapped_column(LargeBinary)  # float32 rows, the embedder's dimension each
    embedder: Mapped[str] = mapped_column(String(100), index=True)  # the face embedder that made the vectors
    # The work item that found it: a segment's index, or -1 for the keyframe quick pass (whose
    # tracks are single sightings and whose pending candidates are superseded when analysis ends).
    segment: Mapped[int] = mapped_column(default=0, server_default="0")
    first_xyxy: Mapped[list[float] | None] = mapped_column(JSON)
    last_xyxy: Mapped[list[float] | None] = mapped_column(JSON)
    crop_id: Mapped[int | None] = mapped_column(ForeignKey("derivatives.id"))
    crop: Mapped[Derivative | None] = relationship()


class WatchlistSubjectRow(Base):
    """A person on one watchlist: why, from what source, added by whom, until when; ``version``
    counts changes to the references (each candidate records the one it matched)."""

    __tablename__ = "watchlist_subjects"
    __table_args__ = (UniqueConstraint("watchlist_id", "name", name="uq_subject_list_name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    watchlist_id: Mapped[int] = mapped_column(ForeignKey("watchlists.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100), default="")
    source: Mapped[str | None] = mapped_column(String(200))  # e.g. a custody image reference
    reason: Mapped[str | None] = mapped_column(Text)
    risk: Mapped[str | None] = mapped_column(Text)  # warning markers: what an officer must know before approaching
    expires_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(default=1, server_default="1")
    purged_at: Mapped[datetime | None]
    references: Mapped[list[WatchlistReference]] = relationship(
        back_populates="subject", cascade="all, delete-orphan")


class WatchlistReference(Base):
    __tablename__ = "watchlist_references"
    __table_args__ = (UniqueConstraint("subject_id", "sha256", name="uq_reference_subject_sha256"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("watchlist_subjects.id", ondelete="CASCADE"), index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    store_path: Mapped[str] = mapped_column(String(500))
    embedding: Mapped[bytes] = mapped_column(LargeBinary)
    model_version: Mapped[str] = mapped_column(String(200))
    embedder: Mapped[str] = mapped_column(String(100))  # the face embedder that made the vectors
    subject: Mapped[WatchlistSubjectRow] = relationship(back_populates="references")


class CandidateRow(Base):
    __tablename__ = "candidates"
    __table_args__ = (UniqueConstraint("track_id", "subject_id", name="uq_candidate_track_subject"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    evidence_id: Mapped[int] = mapped_column(ForeignKey("evidence.id", ondelete="CASCADE"), index=True)
    track_id: Mapped[int] = mapped_column(ForeignKey("face_tracks.id", ondelete="CASCADE"), index=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("watchlist_subjects.id"), index=True)
    # Which list, which version of the subject, under whose authority (None before schema 0015).
    watchlist_id: Mapped[int | None] = mapped_column(ForeignKey("watchlists.id"))
    subject_version: Mapped[int | None]
    authority: Mapped[str | None] = mapped_column(String(100))
    rank: Mapped[int]
    distance: Mapped[float]
    score: Mapped[float]
    threshold: Mapped[float]
    model_version: Mapped[str] = mapped_column(String(200))
    t_s: Mapped[float]
    review_state: Mapped[str] = mapped_column(String(16), default=ReviewState.PENDING, index=True)  # ReviewState
    reviewed_by: Mapped[str | None] = mapped_column(String(100))
    reviewed_at: Mapped[datetime | None]
    review_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    subject: Mapped[WatchlistSubjectRow] = relationship()
    track: Mapped[FaceTrackRow] = relationship()


class AuditEntry(Base):
    """Append-only: each row carries the hash of the previous one (``evidence audit verify``)."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The audit chain's head (one row): the number of entries and the newest hash; every append
    updates it first, serialising appends (evidence.audit)."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(primary_key=True)
    entries: Mapped[int] = mapped_column(BigInteger, default=0)
    hash: Mapped[str] = mapped_column(String(64))


class ApiKey(Base):
    """An API key: only its SHA-256 is stored; the key itself is shown once, when it is made."""

    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(32))
    key_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100), default="")
    revoked_at: Mapped[datetime | None]
    streams: Mapped[list[Any] | None] = mapped_column(JSON)  # an ANPR agent's registered stream ids (camera keys)


class IncidentEvent(Base):
    """What happened on an incident, in order: the timeline and the live feed (the id is the SSE
    event id: Last-Event-ID resumes after it). An event on no incident reaches the desk."""

    __tablename__ = "incident_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    kind: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)


class AnprRead(Base):
    """A plate read posted by an ANPR camera: stored before the camera gets its answer."""

    __tablename__ = "anpr_reads"
    __table_args__ = (UniqueConstraint("camera_id", "vrm_read", "read_at", name="uq_anpr_read"),
                      Index("ix_anpr_reads_vrm_key", "vrm_key"), Index("ix_anpr_reads_read_at", "read_at"),
                      Index("ix_anpr_reads_vrm_key_rev", "vrm_key_rev"),
                      # The retention purge asks whether a kept read still uses an image; only reads
                      # with images are indexed (the ingest's hot path pays nothing for the rest).
                      *(Index(f"ix_anpr_reads_{c}", c, sqlite_where=text(f"{c} IS NOT NULL"),
                              postgresql_where=text(f"{c} IS NOT NULL")) for c in ("plate_image", "overview_image")))
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    camera_id: Mapped[str] = mapped_column(String(64))
    read_at: Mapped[datetime]
    vrm_read: Mapped[str] = mapped_column(String(16))  # as the camera read it (normalised)
    vrm: Mapped[str] = mapped_column(String(16))  # repaired by the UK grammar where it decides
    vrm_key: Mapped[str] = mapped_column(String(16))  # confusion key (O/0, I/1, ...)
    vrm_key_rev: Mapped[str | None] = mapped_column(String(16))  # reversed: searches like *CDE
    valid: Mapped[bool]  # fits a UK format
    format: Mapped[str | None] = mapped_column(String(16))  # the UK format, "foreign" or "unknown"
    alternatives: Mapped[list[Any] | None] = mapped_column(JSON)  # the camera's other reads: [[vrm, confidence]]
    confidence: Mapped[float]
    location: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    direction: Mapped[str | None] = mapped_column(String(16))
    plate_image: Mapped[str | None] = mapped_column(String(500))
    overview_image: Mapped[str | None] = mapped_column(String(500))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class HotlistEntry(Base):
    """A vehicle of interest. Reads are matched on the confusion key, so a misread O/0 still hits."""

    __tablename__ = "hotlist"
    id: Mapped[int] = mapped_column(primary_key=True)
    vrm: Mapped[str] = mapped_column(String(16))
    vrm_key: Mapped[str] = mapped_column(String(16), index=True)
    reason: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(32))
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), index=True)
    expires_at: Mapped[datetime | None]
    added_by: Mapped[str] = mapped_column(String(100))
    added_at: Mapped[datetime] = mapped_column(default=utcnow)
    removed_at: Mapped[datetime | None]


class PlateSightingRow(Base):
    """One vehicle's plate in footage: its reads (``reads``, kept so a cut sighting can be voted
    again as one) voted into a registration, a candidate until a named person confirms it."""

    __tablename__ = "plate_sightings"
    __table_args__ = (UniqueConstraint("evidence_id", "sighting_index", name="uq_plate_sighting_index"),
                      Index("ix_plate_sightings_vrm_key", "vrm_key"),
                      Index("ix_plate_sightings_vrm_key_rev", "vrm_key_rev"))
    id: Mapped[int] = mapped_column(primary_key=True)
    evidence_id: Mapped[int] = mapped_column(ForeignKey("evidence.id", ondelete="CASCADE"), index=True)
    segment: Mapped[int]
    sighting_index: Mapped[int]  # segment * 100000 + the segment's own number
    vrm: Mapped[str] = mapped_column(String(16))
    vrm_key: Mapped[str] = mapped_column(String(16))
    vrm_key_rev: Mapped[str | None] = mapped_column(String(16))
    format: Mapped[str | None] = mapped_column(String(24))
    valid: Mapped[bool]
    region: Mapped[str | None] = mapped_column(String(2))  # the plate's country as its reader placed it (ISO 3166)
    confidence: Mapped[float]
    alternatives: Mapped[list[Any]] = mapped_column(JSON)
    first_t_s: Mapped[float]
    last_t_s: Mapped[float]
    best_t_s: Mapped[float]
    best_xyxy: Mapped[list[float]] = mapped_column(JSON)
    n_reads: Mapped[int]
    reads: Mapped[list[Any]] = mapped_column(JSON)
    crop_id: Mapped[int | None] = mapped_column(ForeignKey("derivatives.id"))
    overview_id: Mapped[int | None] = mapped_column(ForeignKey("derivatives.id"))
    made_by: Mapped[dict[str, Any]] = mapped_column(JSON)
    review_state: Mapped[str] = mapped_column(String(16), default=ReviewState.PENDING, index=True)  # ReviewState
    reviewed_by: Mapped[str | None] = mapped_column(String(100))
    reviewed_at: Mapped[datetime | None]
    review_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    crop: Mapped[Derivative | None] = relationship(foreign_keys=[crop_id])
    overview: Mapped[Derivative | None] = relationship(foreign_keys=[overview_id])


class User(Base):
    """A person who signs in (machines have API keys): an argon2id hash of the password only."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(32))  # Role
    password_hash: Mapped[str] = mapped_column(String(200))
    must_change: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))
    disabled_at: Mapped[datetime | None]
    last_signin_at: Mapped[datetime | None]


class WebSession(Base):
    """A signed-in browser: the id is the SHA-256 of the cookie's token, with its CSRF token."""

    __tablename__ = "web_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    seen_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    address: Mapped[str] = mapped_column(String(64))
