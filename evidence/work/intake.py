"""Evidence arriving: probed (bad media is refused before anything is stored), stored read-only
under its SHA-256 (hashed while copied), and recorded ``queued`` on its incident. The same bytes
sent to the same incident again link the evidence already there."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from evidence.audit import Actor, append_audit
from evidence.db.tables import Evidence, Incident
from evidence.derivatives import discard_unreferenced, ensure_stored
from evidence.eventkinds import EventKind
from evidence.events import add_event
from evidence.filestore import clean_name
from evidence.mediaio import kept_keyframes, probe_with_keyframes
from evidence.runtime import Runtime
from evidence.states import EvidenceState

__all__ = ["get_or_create_incident", "incident_reference", "ingest_clip", "ingest_upload", "with_reference"]


def incident_reference(typed: str) -> str:
    """A reference as it is kept and matched: spaces trimmed, letters upper case ("inc-2026-0412 "
    typed in another case is incident INC-2026-0412, never a second incident)."""
    return " ".join(typed.split()).upper()


def with_reference(typed: str) -> ColumnElement[bool]:
    """The condition matching the incident a person means by ``typed`` (references kept before they
    were upper-cased included)."""
    return func.upper(Incident.reference) == incident_reference(typed)


def get_or_create_incident(s: Session, reference: str) -> Incident:
    incident = s.scalar(select(Incident).where(with_reference(reference)))
    if incident is None:
        reference = incident_reference(reference)
        incident = Incident(reference=reference, title=reference)
        s.add(incident)
        s.flush()
    return incident


def ingest_clip(rt: Runtime, path: Path, incident_ref: str | None, actor: Actor, name: str | None = None,
                submitted: dict[str, Any] | None = None) -> int:
    """Probe (InvalidMedia before anything is stored), store the original read-only under its
    SHA-256, and record the evidence row. The same bytes on the same incident reuse the row
    (``ingest_upload`` says which). ``name`` is the sender's file name (default: the path's)."""
    return ingest_upload(rt, path, incident_ref, actor, name, submitted)[0]


def ingest_upload(rt: Runtime, path: Path, incident_ref: str | None, actor: Actor, name: str | None = None,
                  submitted: dict[str, Any] | None = None) -> tuple[int, bool]:
    """``ingest_clip`` returning (evidence id, True if these bytes were already on the incident).
    ``submitted`` is what the sender added (caption, contact, how it came): who sent it is set
    here, from ``actor``, and cannot be overridden."""
    name = clean_name(name or path.name)
    info, keyframes = probe_with_keyframes(path, name)
    stored = rt.store.put_file(path, "originals")
    try:
        with rt.sessions.begin() as s:
            stored = ensure_stored(stored, lambda: rt.store.put_file(path, "originals"))
            incident = get_or_create_incident(s, incident_ref) if incident_ref else None
            incident_id = incident.id if incident else None
            ev = s.scalar(select(Evidence).where(Evidence.sha256 == stored.sha256,
                                                 Evidence.incident_id.is_(None) if incident_id is None
                                                 else Evidence.incident_id == incident_id))
            duplicate = ev is not None
            if ev is None:
                ev = Evidence(incident_id=incident_id, sha256=stored.sha256, original_name=name,
                              size_bytes=stored.size_bytes, store_path=rt.store.relative(stored.path),
                              media={**info.as_record(), **kept_keyframes(keyframes)},
                              state=EvidenceState.QUEUED,
                              submitted={**(submitted or {}), "by": actor.name, "role": actor.role})
                s.add(ev)
                s.flush()
                add_event(s, incident_id, EventKind.EVIDENCE_RECEIVED,
                          {"evidence_id": ev.id, "name": name, "sha256": stored.sha256, "size_bytes": stored.size_bytes,
                           "duration_s": info.duration_s, "by": actor.name, "role": actor.role,
                           **({"reference": submitted["reference"]} if submitted and submitted.get("reference") else {})})
            append_audit(s, actor, "evidence.ingest", f"evidence:{ev.id}",
                         detail={"sha256": stored.sha256, "name": name, "incident": incident_ref,
                                 "duplicate": duplicate})
            return ev.id, duplicate
    except BaseException:
        discard_unreferenced(rt.sessions, rt.store, [stored])
        raise
