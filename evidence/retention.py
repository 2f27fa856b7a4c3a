"""Retention in code: how long biometric data and evidence are kept, and each deletion audited.

- **Bystanders** (``purge_bystanders``): a face track that raised no candidate is a person nobody
  is looking for. Its template and crop are deleted ``EVIDENCE_BYSTANDER_RETENTION_DAYS`` (31)
  after its footage was analysed, unless the incident is held for investigation (``hold``, with a
  reason). The face index is told (the ``face_index_epoch`` marker): every process rebuilds its
  index without them at its next search, and searches never return a deleted track meanwhile.
- **Evidence** (``classify`` / ``due_for_review``): each incident has a retention class (MoPI
  groups, ``EVIDENCE_RETENTION_CLASSES``) giving the date its evidence is next reviewed; nothing
  is deleted by date alone — a named reviewer decides (``review_retention``: keep to a new date).
- Watchlists' expired subjects and lists are purged by ``evidence.watchlist_lists.purge_expired``.

Every deletion, hold and classification is an audit entry naming the rule."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, exists, or_, select
from sqlalchemy.orm import Session

from evidence.audit import Actor, append_audit, recorded_reason
from evidence.db.governance_tables import INDEX_EPOCH, bump_marker
from evidence.db.tables import CandidateRow, Derivative, Evidence, FaceTrackRow, Incident
from evidence.errors import Conflict, InvalidRequest
from evidence.export import find_incident
from evidence.runtime import Runtime
from evidence.settings import Settings
from evidence.utc import utcnow

__all__ = ["BATCH", "bump_marker", "classify", "due_for_review", "hold", "incident_retention", "purge_bystanders",
           "release", "review_retention"]

BATCH = 2000  # tracks deleted a transaction: the write lock is never held for long


def purge_bystanders(rt: Runtime, actor: Actor, now: datetime | None = None) -> int:
    """Delete the tracks with no candidate whose footage was analysed before the retention period,
    outside held incidents, with their crops; returns how many. One audit entry per batch."""
    cutoff = (now or utcnow()) - timedelta(days=rt.settings.bystander_retention_days)
    held = select(Incident.id).where(Incident.hold.is_not(None))
    total = 0
    while True:
        with rt.sessions.begin() as s:
            rows = s.execute(
                select(FaceTrackRow.id, FaceTrackRow.crop_id, FaceTrackRow.evidence_id)
                .join(Evidence, Evidence.id == FaceTrackRow.evidence_id)
                .where(Evidence.finished_at < cutoff,
                       ~exists().where(CandidateRow.track_id == FaceTrackRow.id),
                       or_(Evidence.incident_id.is_(None), Evidence.incident_id.not_in(held)))
                .order_by(FaceTrackRow.id).limit(BATCH)).all()
            if not rows:
                return total
            track_ids = [r[0] for r in rows]
            s.execute(delete(FaceTrackRow).where(FaceTrackRow.id.in_(track_ids)).execution_options(
                synchronize_session=False))
            # A crop row can be shared (a re-run's track of the same face): only those no kept track uses.
            crops = (Derivative.id.in_({r[1] for r in rows if r[1] is not None}),
                     ~exists().where(FaceTrackRow.crop_id == Derivative.id))
            paths = set(s.scalars(select(Derivative.store_path).where(*crops)))
            s.execute(delete(Derivative).where(*crops).execution_options(synchronize_session=False))
            if paths:  # identical bytes stored for a kept derivative: the file stays
                paths -= set(s.scalars(select(Derivative.store_path).where(Derivative.store_path.in_(sorted(paths)))))
            # Deleted while the write lock is held; a failure rolls the batch back (and is retried).
            files = rt.store.delete_many(sorted(paths), kinds=("derivatives",))
            bump_marker(s, INDEX_EPOCH)
            per_evidence: dict[str, int] = {}
            for r in rows:
                per_evidence[str(r[2])] = per_evidence.get(str(r[2]), 0) + 1
            append_audit(s, actor, "retention.bystanders", "face_tracks",
                         reason=f"face tracks with no candidate, analysed before {cutoff:%Y-%m-%d %H:%M}Z "
                                f"(EVIDENCE_BYSTANDER_RETENTION_DAYS={rt.settings.bystander_retention_days:g}), "
                                "incident not held for investigation",
                         detail={"tracks": len(track_ids), "track_ids": track_ids, "crops_deleted": files,
                                 "by_evidence": per_evidence})
            total += len(track_ids)


def incident_retention(incident: Incident, settings: Settings) -> dict[str, Any]:
    """The incident's class, review date (its own, or its creation plus the class's period) and hold."""
    cls = incident.retention_class or settings.default_retention_class
    review = incident.review_at or incident.created_at + timedelta(days=settings.retention_classes.get(cls, 0))
    return {"class": cls, "review_at": review.isoformat(), "hold": incident.hold}


def hold(rt: Runtime, incident: str, reason: str, actor: Actor) -> Incident:
    """Mark the incident for investigation: its bystanders' tracks are kept until released."""
    why = recorded_reason(reason)
    with rt.sessions.begin() as s:
        row = find_incident(s, incident, lock=True)
        if row.hold:  # a second hold would rewrite who held it and why
            raise Conflict(f"incident {row.reference} is already held by {row.hold.get('by')}: {row.hold.get('reason')}")
        row.hold = {"by": actor.name, "at": utcnow().isoformat(), "reason": why}
        append_audit(s, actor, "retention.hold", f"incident:{row.id}", reason=why)
        return row


def release(rt: Runtime, incident: str, reason: str, actor: Actor) -> Incident:
    """End the hold: unmatched tracks older than the retention period go at the next purge."""
    why = recorded_reason(reason)
    with rt.sessions.begin() as s:
        row = find_incident(s, incident, lock=True)
        if not row.hold:
            raise Conflict(f"incident {row.reference} is not held")
        was, row.hold = row.hold, None
        append_audit(s, actor, "retention.release", f"incident:{row.id}", reason=why, detail={"was": was})
        return row


def classify(rt: Runtime, incident: str, cls: str, reason: str, actor: Actor) -> Incident:
    """Put the incident's evidence on a retention class; its review date follows from today."""
    days = rt.settings.retention_classes.get(cls)
    if days is None:
        raise InvalidRequest(f"unknown retention class {cls!r}: one of {', '.join(rt.settings.retention_classes)}")
    with rt.sessions.begin() as s:
        row = find_incident(s, incident)
        before = incident_retention(row, rt.settings)
        row.retention_class, row.review_at = cls, utcnow() + timedelta(days=days)
        append_audit(s, actor, "retention.classify", f"incident:{row.id}", reason=recorded_reason(reason),
                     detail={"before": before, "after": incident_retention(row, rt.settings)})
        return row


def review_retention(rt: Runtime, incident: str, keep_until: datetime, reason: str, actor: Actor) -> Incident:
    """A named reviewer's decision to keep the incident's evidence to a new review date."""
    if keep_until <= utcnow():
        raise InvalidRequest("the next review date must be in the future")
    with rt.sessions.begin() as s:
        row = find_incident(s, incident)
        before = incident_retention(row, rt.settings)
        row.review_at = keep_until
        append_audit(s, actor, "retention.review", f"incident:{row.id}", reason=recorded_reason(reason),
                     detail={"before": before, "after": incident_retention(row, rt.settings)})
        return row


def due_for_review(s: Session, settings: Settings, now: datetime | None = None) -> list[tuple[Incident, dict[str, Any]]]:
    """Incidents whose evidence retention review date has come, oldest first."""
    now = now or utcnow()
    out = [(i, incident_retention(i, settings)) for i in s.scalars(select(Incident).order_by(Incident.id))]
    return sorted([(i, r) for i, r in out if r["review_at"] <= now.isoformat()], key=lambda x: x[1]["review_at"])
