"""Investigators' searches over everything processed. Every search needs a reason; the reason, the
query and the number of results go to the audit log.

Plates: camera reads and plate sightings in footage, by registration with ``?`` (one character) and
``*`` (any run) wildcards, confusable-aware (O/0, I/1, B/8, S/5, Z/2, G/6 match alike), filtered by
time (a read's time; for footage, when it was received) and camera. Results are candidates to
verify against their images."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from evidence.audit import Actor, append_audit
from evidence.db.tables import AnprRead, Evidence, PlateSightingRow
from evidence.runtime import Runtime
from pipeline.errors import Conflict
from pipeline.plates import wildcard_like

__all__ = ["search_plates"]

MAX_RESULTS = 1000


def search_plates(rt: Runtime, query: str, reason: str, actor: Actor, since: datetime | None = None,
                  until: datetime | None = None, camera: str | None = None,
                  limit: int = MAX_RESULTS) -> list[dict[str, Any]]:
    """Camera reads (newest first), then sightings in footage (by evidence, time), whose
    confusion key matches ``query``. Raises Conflict without a reason or a usable query."""
    if not reason.strip():
        raise Conflict("a search needs a reason (it is recorded in the audit log)")
    pattern = wildcard_like(query)
    if not pattern.strip("%_"):
        raise Conflict(f"query {query!r} has no letters or digits to search for")
    exact = "%" not in pattern and "_" not in pattern
    out: list[dict[str, Any]] = []
    with rt.sessions.begin() as s:
        reads = select(AnprRead).where(AnprRead.vrm_key == pattern if exact else AnprRead.vrm_key.like(pattern))
        if since is not None:
            reads = reads.where(AnprRead.read_at >= since)
        if until is not None:
            reads = reads.where(AnprRead.read_at <= until)
        if camera is not None:
            reads = reads.where(AnprRead.camera_id == camera)
        for r in s.scalars(reads.order_by(AnprRead.read_at.desc()).limit(limit)):
            out.append({"source": "camera", "read_id": r.id, "vrm": r.vrm, "vrm_read": r.vrm_read,
                        "camera_id": r.camera_id, "at": r.read_at.isoformat(), "confidence": r.confidence,
                        "location": r.location, "direction": r.direction,
                        "plate_image": f"/anpr/reads/{r.id}/plate" if r.plate_image else None,
                        "overview_image": f"/anpr/reads/{r.id}/overview" if r.overview_image else None})
        if camera is None:  # footage has no camera id
            found = select(PlateSightingRow, Evidence).join(Evidence, Evidence.id == PlateSightingRow.evidence_id).where(
                PlateSightingRow.vrm_key == pattern if exact else PlateSightingRow.vrm_key.like(pattern))
            if since is not None:
                found = found.where(Evidence.received_at >= since)
            if until is not None:
                found = found.where(Evidence.received_at <= until)
            for p, ev in s.execute(found.order_by(PlateSightingRow.evidence_id, PlateSightingRow.first_t_s)
                                   .limit(max(0, limit - len(out)))):
                out.append({"source": "footage", "sighting_id": p.id, "vrm": p.vrm, "evidence_id": ev.id,
                            "incident_id": ev.incident_id, "evidence_name": ev.original_name,
                            "t_s": p.best_t_s, "first_t_s": p.first_t_s, "last_t_s": p.last_t_s,
                            "confidence": p.confidence, "review_state": p.review_state,
                            "plate_image": f"/plate-sightings/{p.id}/image?kind=plate",
                            "overview_image": f"/plate-sightings/{p.id}/image?kind=overview"})
        append_audit(s, actor, "search.plates", f"plates:{query}", reason=reason,
                     detail={"query": query, "pattern": pattern, "since": since.isoformat() if since else None,
                             "until": until.isoformat() if until else None, "camera": camera, "results": len(out)})
    return out
