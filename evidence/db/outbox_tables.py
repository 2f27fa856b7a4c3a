"""Tables of what reaches people: alerts on the desk, subscriptions and the outbox of deliveries
(webhooks and emails, written in the same transaction as the event they carry), witnesses' status
links and the expiring links officers are sent."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from evidence.db.tables import Base
from evidence.utc import utcnow

__all__ = ["Alert", "Delivery", "Share", "Subscription", "WitnessStatus"]


class Alert(Base):
    """Something a person must look at (a potential match, a hotlist hit, failed evidence, a
    failing subscription), raised by the event ``event_id``; acknowledged by a named person, or
    escalated when nobody does in time."""

    __tablename__ = "alerts"
    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("incident_events.id", ondelete="CASCADE"), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    summary: Mapped[str] = mapped_column(String(300))
    raised_at: Mapped[datetime] = mapped_column(default=utcnow)
    acknowledged_at: Mapped[datetime | None] = mapped_column(index=True)
    acknowledged_by: Mapped[str | None] = mapped_column(String(100))
    ack_note: Mapped[str | None] = mapped_column(Text)
    escalated_at: Mapped[datetime | None]


class Subscription(Base):
    """Who is told what: a webhook or an email address, the event kinds and filters
    (``subscriber``), or an officer's device that alerts are sent to by hand (``device``). The
    secret signs webhooks (HMAC-SHA256); it is shown once, when the subscription is made."""

    __tablename__ = "subscriptions"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    purpose: Mapped[str] = mapped_column(String(16))  # subscriber | device
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    channel: Mapped[str] = mapped_column(String(16))  # webhook | email
    target: Mapped[str] = mapped_column(String(500))
    secret: Mapped[str] = mapped_column(String(64))
    filters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[str] = mapped_column(String(16), default="active")  # active | failing | stopped
    failures: Mapped[int] = mapped_column(default=0)  # deliveries given up on since it last worked
    retry_at: Mapped[datetime | None]  # after a failed attempt: nothing is sent to it before this
    lease_until: Mapped[datetime | None]  # a sender is working through its deliveries
    lease_holder: Mapped[str | None] = mapped_column(String(32))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    stopped_at: Mapped[datetime | None]
    stopped_reason: Mapped[str | None] = mapped_column(Text)


class Delivery(Base):
    """One message to one recipient, in the outbox until it is delivered or given up on. ``key``
    makes it once only (a subscription and an event, a witness and a step, a share)."""

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_due", "state", "next_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(100), unique=True)
    subscription_id: Mapped[int | None] = mapped_column(ForeignKey("subscriptions.id", ondelete="CASCADE"), index=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("incident_events.id", ondelete="SET NULL"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(500))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(default=0)
    next_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_until: Mapped[datetime | None]
    last_status: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None]
    log: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # each attempt: when, answer, error


class WitnessStatus(Base):
    """A witness's private status link for the video they sent (only the token's SHA-256 kept),
    and their email address if they asked to be told of each step."""

    __tablename__ = "witness_statuses"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    evidence_id: Mapped[int] = mapped_column(ForeignKey("evidence.id", ondelete="CASCADE"), index=True)
    reference: Mapped[str] = mapped_column(String(20))
    email: Mapped[str | None] = mapped_column(String(254))
    link_token: Mapped[str | None] = mapped_column(String(64))  # kept only while emails go out: their links
    emails_stopped_at: Mapped[datetime | None]
    step_emailed: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Share(Base):
    """An alert sent to an officer's device: the link in the message shows the crop and the
    summary until it expires (only the token's SHA-256 kept)."""

    __tablename__ = "shares"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id", ondelete="CASCADE"))
    sent: Mapped[dict[str, Any]] = mapped_column(default=dict)
    image_path: Mapped[str | None] = mapped_column(String(500))
    expires_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    reply: Mapped[str | None] = mapped_column(String(16))  # the officer's latest: received | attending
    replied_at: Mapped[datetime | None]
