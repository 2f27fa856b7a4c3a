"""Read-side views of stored results, shared by the CLI, the API and the evidence package. Where the
crop is depends on who shows it — a path in the store (``crop_path``, the CLI), a route of the API
(``crop_url``), a file in the package (``crop_file``) — so each adds its own."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, object_session

from evidence.db.governance_tables import WatchlistRow
from evidence.db.tables import CandidateRow, Evidence, FaceTrackRow, PlateSightingRow, WorkItem
from evidence.filestore import FileStore
from evidence.states import WorkState

__all__ = ["candidate_view", "crop_path", "list_name", "evidence_candidates", "evidence_plates", "evidence_view", "sender_view", "sighting_view", "work_view"]


def candidate_view(c: CandidateRow) -> dict[str, Any]:
    return {
        "id": c.id, "subject": c.subject.name, "rank": c.rank, "score": round(c.score, 4),
        "distance": round(c.distance, 4), "threshold": c.threshold, "t_s": round(c.track.first_t_s, 2),
        "crop_t_s": round(c.t_s, 2), "track": c.track.track_index, "model_version": c.model_version,
        "review_state": c.review_state, "reviewed_by": c.reviewed_by,
        "watchlist": list_name(c), "subject_version": c.subject_version, "authority": c.authority,
    }


def list_name(c: CandidateRow) -> str | None:
    """The name of the watchlist the candidate was matched on (None before schema 0015)."""
    s = object_session(c)
    wl = s.get(WatchlistRow, c.watchlist_id) if s is not None and c.watchlist_id is not None else None
    return wl.name if wl else None


def crop_path(c: CandidateRow, store: FileStore) -> str | None:
    """Where the candidate's face crop is in the store."""
    return str(store.absolute(c.track.crop.store_path)) if c.track.crop else None


def evidence_candidates(s: Session, evidence_id: int) -> list[CandidateRow]:
    return list(s.scalars(
        select(CandidateRow).where(CandidateRow.evidence_id == evidence_id)
        .options(joinedload(CandidateRow.subject), joinedload(CandidateRow.track).joinedload(FaceTrackRow.crop))
        .order_by(CandidateRow.t_s, CandidateRow.rank)))


def evidence_plates(s: Session, evidence_id: int, store: FileStore) -> list[dict[str, Any]]:
    """The evidence's plate sightings in time order, with the crops' paths in the store."""
    rows = s.scalars(select(PlateSightingRow).where(PlateSightingRow.evidence_id == evidence_id)
                     .options(joinedload(PlateSightingRow.crop), joinedload(PlateSightingRow.overview))
                     .order_by(PlateSightingRow.first_t_s, PlateSightingRow.sighting_index))
    return [{**sighting_view(r), "crop_path": str(store.absolute(r.crop.store_path)) if r.crop else None,
             "overview_path": str(store.absolute(r.overview.store_path)) if r.overview else None} for r in rows]


def sighting_view(row: PlateSightingRow, crop_url: str | None = None, overview_url: str | None = None
                  ) -> dict[str, Any]:
    """What a report, the CLI's JSON and the API show of a sighting."""
    return {"id": row.id, "plate": row.vrm, "format": row.format, "valid": row.valid, "region": row.region,
            "confidence": row.confidence, "alternatives": row.alternatives,
            "first_t_s": row.first_t_s, "last_t_s": row.last_t_s, "best_t_s": row.best_t_s,
            "xyxy": row.best_xyxy, "n_reads": row.n_reads, "review_state": row.review_state,
            "reviewed_by": row.reviewed_by,
            "crop_sha256": row.crop.sha256 if row.crop else None,
            "overview_sha256": row.overview.sha256 if row.overview else None,
            **({"crop_url": crop_url} if crop_url else {}), **({"overview_url": overview_url} if overview_url else {})}


def evidence_view(ev: Evidence) -> dict[str, Any]:
    m = ev.media
    return {
        "id": ev.id, "sha256": ev.sha256, "name": ev.original_name, "size_bytes": ev.size_bytes,
        "duration_s": round(float(m.get("duration_s", 0.0)), 3), "codec": m.get("codec"),
        "size_wh": m.get("size_wh"), "rotation_deg": m.get("rotation_deg"),
        "creation_time": m.get("creation_time"), "location": m.get("location"),
        "state": ev.state, "progress": round(ev.progress, 3), "failure_reason": ev.failure_reason,
    }


def sender_view(ev: Evidence) -> dict[str, Any] | None:
    """How the evidence came in and what its sender said with it (a witness's description of the
    video and how to contact them): for staff and the evidence package, never the public."""
    sub = ev.submitted or {}
    if not sub:
        return None
    public = sub.get("role") == "public"
    return {"from": "a member of the public" if public else sub.get("by"), "public": public,
            "via": sub.get("via"), "reference": sub.get("reference"),
            "caption": sub.get("caption"), "contact": sub.get("contact"),
            **({k: sub[k] for k in ("recorded_by", "device") if sub.get(k)})}


def work_view(s: Session, evidence_id: int) -> dict[str, Any]:
    """The evidence's work items by kind: how many, how many done, running, failed."""
    out: dict[str, Any] = {}
    for item in s.scalars(select(WorkItem).where(WorkItem.evidence_id == evidence_id).order_by(WorkItem.index)):
        k = out.setdefault(item.kind, {"total": 0, WorkState.DONE: 0, WorkState.RUNNING: 0, WorkState.FAILED: 0})
        k["total"] += 1
        if item.state in (WorkState.DONE, WorkState.RUNNING, WorkState.FAILED):
            k[item.state] += 1
    return out
