"""A hotlist hit's read model: the facts of one ``anpr.hit`` event, whether a camera read it or it was
seen in footage, with what the database adds (the alternatives the reader also had, the clip's name
and place). The pages format these facts (api/pages/hits.py), the message to an officer takes its
place from them (evidence/alerts.py): a fact is worked out here once.

Fields: ``source`` ("camera" or "footage"); ``hotlist_vrm``, ``reason``, ``category``; ``vrm_read``
(what was read), ``matched_vrm`` (the alternative read that matched, if it was one),
``on_alternative_read``; ``confidence`` (0–1, as the reader said); ``alternatives`` [(vrm, 0–1)];
``read_at`` (ISO, UTC; a camera's read), ``camera_id``, ``direction`` (as the camera sent it);
``evidence_id``, ``evidence_name``, ``t_s`` (seconds into the clip of the best view), ``box``;
``position`` ((lat, lon) or None), ``place_name`` (the name the camera gave its place, if any), ``place``
(where, as people read it: that name, else the coordinates), ``plate_image_url``, ``overview_image_url``."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from evidence.db.tables import AnprRead, Evidence, PlateSightingRow
from pipeline.geo import location_latlon

__all__ = ["hit_facts", "place_words"]


def _name(location: Any) -> str | None:
    """The name a camera gave its place, if any."""
    return str(location["name"]) if isinstance(location, dict) and location.get("name") else None


def place_words(location: Any) -> str | None:
    """Where, as people read it: a camera's name, else the coordinates (to 5 places, about a metre)."""
    if (name := _name(location)) is not None:
        return name
    where = location_latlon(location)
    return f"{where[0]:.5f}, {where[1]:.5f}" if where is not None else None


def hit_facts(s: Session, d: dict[str, Any]) -> dict[str, Any]:
    """The read model of the hit whose event data is ``d``."""
    facts: dict[str, Any] = {
        "source": "footage" if d.get("source") == "footage" else "camera", "hotlist_vrm": d.get("hotlist_vrm"),
        "reason": d.get("reason"), "category": d.get("category"), "vrm_read": d.get("vrm_read") or d.get("vrm"),
        "matched_vrm": (d.get("matched_read") or {}).get("vrm"), "on_alternative_read": bool(d.get("on_alternative_read")),
        "confidence": d.get("confidence"), "read_at": d.get("read_at"), "camera_id": d.get("camera_id"),
        "direction": d.get("direction"), "evidence_id": d.get("evidence_id"), "evidence_name": None, "t_s": None,
        "box": None, "plate_image_url": d.get("plate_image_url"), "overview_image_url": d.get("overview_image_url")}
    if facts["source"] == "footage":
        row = s.get(PlateSightingRow, d.get("sighting_id"))
        ev = s.get(Evidence, d.get("evidence_id"))
        location = (ev.media or {}).get("location") if ev else None
        facts.update(evidence_name=ev.original_name if ev else None, t_s=float(d.get("t_s") or 0),
                     box=row.best_xyxy if row else None)
        alternatives = row.alternatives if row else []
    else:
        read = s.get(AnprRead, d.get("read_id")) if d.get("read_id") else None
        location = d["location"] if isinstance(d.get("location"), dict) else None
        alternatives = (read.alternatives or []) if read else []
    facts["position"] = location_latlon(location)
    facts["place_name"] = _name(location)
    facts["place"] = place_words(location)
    facts["alternatives"] = [(str(a[0]), float(a[1])) for a in alternatives
                             if isinstance(a, (list, tuple)) and len(a) >= 2]
    return facts
