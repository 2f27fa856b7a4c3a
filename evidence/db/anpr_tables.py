"""ANPR cameras' health: when each last read a plate and last sent a heartbeat, what the heartbeat
said, and since when it has been silent (an alert was raised)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from evidence.db.tables import Base
from evidence.utc import utcnow

__all__ = ["AnprCamera"]


class AnprCamera(Base):
    __tablename__ = "anpr_cameras"
    camera_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_read_at: Mapped[datetime | None]
    last_heartbeat_at: Mapped[datetime | None]
    streaming: Mapped[bool | None]  # as the last heartbeat said
    status: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # the last heartbeat's figures
    silent_since: Mapped[datetime | None]  # set when the silence alert is raised, cleared when it speaks
