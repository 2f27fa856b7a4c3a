"""A hotlist hit as an operator checks it before anyone is sent: the plate as the camera cropped
it (its own aspect) beside the vehicle, the camera and its place on a map, the read time in the
force's time zone, the direction, how sure the camera was, and what else it thought the plate
said. One view for the board's card and the desk's alert."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from api.pages.common import clock, local_time, watch_url
from api.pages.maps import Place, map_view, position
from evidence.db.tables import AnprRead, Evidence, PlateSightingRow
from evidence.eventkinds import EventKind
from evidence.settings import Settings

__all__ = ["direction_words", "hit_view"]


COMPASS = {"N": "north", "NE": "north-east", "E": "east", "SE": "south-east", "S": "south", "SW": "south-west",
           "W": "west", "NW": "north-west"}


def direction_words(direction: str | None) -> str:
    """A camera's direction as people say it: "heading north-east", "towards the camera"."""
    d = (direction or "").upper()
    if d in COMPASS:
        return f"heading {COMPASS[d]}"
    return {"TOWARDS": "towards the camera", "AWAY": "away from the camera"}.get(d, "")


def _percent(confidence: Any) -> str:
    try:
        return f"{float(confidence) * 100:.0f} %"
    except (TypeError, ValueError):
        return ""


def hit_view(s: Session, event_id: int, d: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """The facts of one ``anpr.hit`` event (its data ``d``) for the hit template."""
    view: dict[str, Any] = {
        "kind": EventKind.ANPR_HIT, "key": f"h{event_id}", "event_id": event_id, "hotlist_vrm": d.get("hotlist_vrm"),
        "vrm_read": d.get("vrm_read") or d.get("vrm"), "plate_image_url": d.get("plate_image_url"),
        "overview_image_url": d.get("overview_image_url"), "reason": d.get("reason"), "category": d.get("category"),
        "confidence": _percent(d.get("confidence")), "on_alternative": bool(d.get("on_alternative_read")),
        "matched": (d.get("matched_read") or {}).get("vrm"), "direction": direction_words(d.get("direction")), "watch_url": None,
        "camera": None, "place": None, "read_at": d.get("read_at"), "read_local": "", "alternatives": [], "map": None}
    where: tuple[float, float] | None = None
    label = ""
    if d.get("source") == "footage":
        row = s.get(PlateSightingRow, d.get("sighting_id"))
        ev = s.get(Evidence, d.get("evidence_id"))
        t_s = float(d.get("t_s") or 0)
        view["watch_url"] = watch_url(int(d["evidence_id"]), t_s, row.best_xyxy if row else None, "plate")
        view["footage"] = f"{ev.original_name if ev else 'footage'} at {clock(t_s)}"
        alternatives = row.alternatives if row else []
        where = position((ev.media or {}).get("location")) if ev else None
        label = ev.original_name if ev else "footage"
    else:
        read = s.get(AnprRead, d.get("read_id")) if d.get("read_id") else None
        alternatives = (read.alternatives or []) if read else []
        location: dict[str, Any] = d["location"] if isinstance(d.get("location"), dict) else {}
        view["camera"] = d.get("camera_id")
        view["place"] = location.get("name")
        view["read_local"] = local_time(d.get("read_at"), settings)
        where = position(location)
        label = str(location.get("name") or d.get("camera_id") or "camera")
    view["alternatives"] = [{"vrm": a[0], "confidence": _percent(a[1])} for a in alternatives[:5]
                            if isinstance(a, (list, tuple)) and len(a) >= 2]
    if where is not None:
        view["position"] = f"{where[0]:.5f}, {where[1]:.5f}"
        view["map"] = map_view([Place(where[0], where[1], label)], settings.map_tiles, settings.map_attribution)
    return view
