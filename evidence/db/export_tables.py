"""Evidence packages being made for court: who asked, why, how far it has got, and where the
package is once made (the page that started it shows the progress and the download)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from evidence.db.tables import Base
from evidence.utc import utcnow

__all__ = ["ExportJob"]


class ExportJob(Base):
    __tablename__ = "export_jobs"
    # One package of an incident at a time: a second start while one is being made is refused.
    __table_args__ = (Index("uq_export_jobs_running", "incident_id", unique=True,
                            sqlite_where=text("state = 'running'"), postgresql_where=text("state = 'running'")),)
    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    requested_by: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    redact: Mapped[bool]
    redact_plates: Mapped[bool]
    state: Mapped[str] = mapped_column(String(16), default="running")  # running, done, failed
    progress: Mapped[float] = mapped_column(default=0.0)
    step: Mapped[str] = mapped_column(String(300), default="Starting")
    file_path: Mapped[str | None] = mapped_column(String(500))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    manifest_sha256: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)  # a running job not updated for long has died
    finished_at: Mapped[datetime | None]
