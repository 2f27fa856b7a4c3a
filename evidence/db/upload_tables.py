"""Tables of what comes in through a link: the upload links for an incident (a witness's or a
member of staff's own) and the resumable uploads through them, with how far each has come."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from evidence.db.tables import Base
from evidence.utc import utcnow

__all__ = ["ResumableUpload", "UploadLink"]


class UploadLink(Base):
    """A public upload link for one incident: only the token's SHA-256 is stored; expiry and caps."""

    __tablename__ = "upload_links"
    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime]
    max_uploads: Mapped[int]
    max_bytes: Mapped[int] = mapped_column(BigInteger)
    uses: Mapped[int] = mapped_column(default=0)
    created_by: Mapped[str] = mapped_column(String(100))
    staff_role: Mapped[str | None] = mapped_column(String(32))  # a staff member's own link: they are the sender
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ResumableUpload(Base):
    """A witness's upload in pieces (tus): how much has arrived, and the evidence it became."""

    __tablename__ = "resumable_uploads"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    link_id: Mapped[int] = mapped_column(ForeignKey("upload_links.id", ondelete="CASCADE"), index=True)
    length: Mapped[int] = mapped_column(BigInteger)
    offset: Mapped[int] = mapped_column(BigInteger, default=0)
    name: Mapped[str] = mapped_column(String(500))
    sender: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    evidence_id: Mapped[int | None] = mapped_column(ForeignKey("evidence.id"))
    sha256: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    status_token: Mapped[str | None] = mapped_column(String(64))  # the sender's status link, for the receipt
    client: Mapped[str | None] = mapped_column(String(64), index=True)  # the address that started it
    touched_at: Mapped[datetime | None]  # its last piece (its start until one arrives)
    abandoned_at: Mapped[datetime | None]  # removed unfinished: idle too long, or its link ended
