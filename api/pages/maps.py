"""Where a camera or a sighting is, drawn on the server as an SVG map: no script, and nothing is
fetched from anywhere unless the force configures its own tile server (``EVIDENCE_MAP_TILES``, a
``{z}/{x}/{y}`` template); without one, the positions are plotted on a plain background with a
scale bar and north, which is enough to see where, and how far apart, things are."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from pipeline.geo import location_latlon

__all__ = ["Place", "drawable", "map_view", "position"]

TILE = 256  # pixels a web-mercator tile
MAX_ZOOM = 16  # a street: about 2.4 m a pixel at 50° N
EARTH_M_PER_PX = 156543.03392  # at the equator, zoom 0


@dataclass(frozen=True)
class Place:
    lat: float
    lon: float
    label: str


def position(location: Any) -> tuple[float, float] | None:
    """(latitude, longitude) of a camera's location object ({"lat", "lon"}) or of footage's ISO 6709
    string ("+51.5074-000.1278/") where a web map can draw it; None where there is none, it is not
    on the Earth, or it is nearer a pole than the map's 85°."""
    return drawable(location_latlon(location))


def drawable(where: tuple[float, float] | None) -> tuple[float, float] | None:
    """``where`` (lat, lon) if a web map can draw it (within its 85° of the equator)."""
    return where if where is not None and -85 <= where[0] <= 85 else None


def _world(lat: float, lon: float, zoom: int) -> tuple[float, float]:
    """Web-mercator pixel coordinates at ``zoom`` (the tiles' own projection)."""
    n = TILE * 2**zoom
    return (lon + 180) / 360 * n, (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n


def _scale(lat: float, zoom: int, width: int) -> tuple[int, str]:
    """A scale bar no longer than a third of the map: its length in pixels and its words."""
    m_per_px = EARTH_M_PER_PX * math.cos(math.radians(lat)) / 2**zoom
    metres = max((d for d in (10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000)
                  if d / m_per_px <= width / 3), default=10)
    return round(metres / m_per_px), (f"{metres // 1000} km" if metres >= 1000 else f"{metres} m")


def map_view(places: list[Place], tiles: str | None = None, attribution: str = "", width: int = 360,
             height: int = 200) -> dict[str, Any] | None:
    """What the map template draws: the tiles (when configured), each place's marker and label,
    the scale bar and its words, and a sentence for those who cannot see it. None without places."""
    if not places:
        return None
    margin = 40
    zoom = MAX_ZOOM
    while zoom > 1:
        xy = [_world(p.lat, p.lon, zoom) for p in places]
        xs, ys = [x for x, _ in xy], [y for _, y in xy]
        if max(xs) - min(xs) <= width - 2 * margin and max(ys) - min(ys) <= height - 2 * margin:
            break
        zoom -= 1
    xy = [_world(p.lat, p.lon, zoom) for p in places]
    cx = (min(x for x, _ in xy) + max(x for x, _ in xy)) / 2
    cy = (min(y for _, y in xy) + max(y for _, y in xy)) / 2
    x0, y0 = cx - width / 2, cy - height / 2
    drawn = []
    if tiles:
        last = 2**zoom - 1
        for ty in range(max(0, math.floor(y0 / TILE)), min(last, math.floor((y0 + height) / TILE)) + 1):
            for tx in range(math.floor(x0 / TILE), math.floor((x0 + width) / TILE) + 1):
                href = tiles.replace("{z}", str(zoom)).replace("{x}", str(tx % (last + 1))).replace("{y}", str(ty))
                drawn.append({"href": href, "x": round(tx * TILE - x0), "y": round(ty * TILE - y0)})
    markers = [{"x": round(x - x0, 1), "y": round(y - y0, 1), "label": p.label, "number": i + 1}
               for i, (p, (x, y)) in enumerate(zip(places, xy, strict=True))]
    bar, bar_words = _scale(places[0].lat, zoom, width)
    said = "; ".join(f"{p.label} at {p.lat:.5f}, {p.lon:.5f}" for p in places[:10])
    more = f" and {len(places) - 10} more" if len(places) > 10 else ""
    return {"width": width, "height": height, "tiles": drawn, "markers": markers, "bar": bar, "bar_words": bar_words,
            "description": f"Map: {said}{more}", "attribution": attribution if tiles else "",
            "plain": not tiles, "grid": list(range(0, max(width, height), 40))}
