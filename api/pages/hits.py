"""A hotlist hit as an operator checks it before anyone is sent: the plate as the camera cropped
it (its own aspect) beside the vehicle, the camera and its place on a map, the read time in the
force's time zone, the direction, how sure the camera was, and what else it thought the plate
said. One view for the board's card and the desk's alert."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from api.pages.common import clock, local_time, watch_url
from api.pages.maps import Place, drawable, map_view
from evidence.eventkinds import EventKind
from evidence.hits import hit_facts
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
    """The hit whose event is ``event_id`` (data ``d``) for the hit template: its read model
    (evidence/hits.py) in words, times and a map."""
    f = hit_facts(s, d)
    camera = f["source"] == "camera"
    view: dict[str, Any] = {
        "kind": EventKind.ANPR_HIT, "key": f"h{event_id}", "event_id": event_id, "hotlist_vrm": f["hotlist_vrm"],
        "vrm_read": f["vrm_read"], "plate_image_url": f["plate_image_url"], "overview_image_url": f["overview_image_url"],
        "reason": f["reason"], "category": f["category"], "confidence": _percent(f["confidence"]),
        "on_alternative": f["on_alternative_read"], "matched": f["matched_vrm"], "direction": direction_words(f["direction"]),
        "camera": f["camera_id"] if camera else None, "place": f["place_name"] if camera else None, "read_at": f["read_at"],
        "read_local": local_time(f["read_at"], settings) if camera else "", "watch_url": None, "map": None,
        "alternatives": [{"vrm": vrm, "confidence": _percent(c)} for vrm, c in f["alternatives"][:5]]}
    if not camera:
        view["watch_url"] = watch_url(int(f["evidence_id"]), f["t_s"], f["box"], "plate")
        view["footage"] = f"{f['evidence_name'] or 'footage'} at {clock(f['t_s'])}"
    if (where := drawable(f["position"])) is not None:
        label = (f["place_name"] or f["camera_id"] or "camera") if camera else (f["evidence_name"] or "footage")
        view["position"] = f"{where[0]:.5f}, {where[1]:.5f}"
        view["map"] = map_view([Place(where[0], where[1], label)], settings.map_tiles, settings.map_attribution)
    return view
