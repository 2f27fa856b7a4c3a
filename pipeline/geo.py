"""Where footage or a read was taken: ISO 6709 strings (phone metadata) and a lat/lon search box."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = ["GeoBox", "location_latlon", "parse_iso6709"]

_ISO6709 = re.compile(r"^([+-]\d+(?:\.\d+)?)([+-]\d+(?:\.\d+)?)")


def parse_iso6709(text: str) -> tuple[float, float] | None:
    """'+51.5072-000.1276/' (decimal degrees, as phones write it) -> (51.5072, -0.1276); None otherwise."""
    m = _ISO6709.match(text.strip())
    if m is None:
        return None
    lat, lon = float(m.group(1)), float(m.group(2))
    return (lat, lon) if -90 <= lat <= 90 and -180 <= lon <= 180 else None


def location_latlon(location: Any) -> tuple[float, float] | None:
    """A stored location -- footage's ISO 6709 string or a camera's {"lat", "lon"} mapping -- as
    (lat, lon); None where there is none or it is not a place on the Earth. The one parser of both."""
    if isinstance(location, str):
        return parse_iso6709(location)
    if isinstance(location, dict):
        try:
            lat, lon = float(location["lat"]), float(location["lon"])
        except (KeyError, TypeError, ValueError):
            return None
        return (lat, lon) if -90 <= lat <= 90 and -180 <= lon <= 180 else None  # NaN fails both
    return None


@dataclass(frozen=True)
class GeoBox:
    """A search area in decimal degrees (not across the antimeridian)."""

    min_lat: float
    min_lon: float
    max_lat: float
    max_lon: float

    @classmethod
    def from_text(cls, text: str) -> GeoBox:
        """'min_lat,min_lon,max_lat,max_lon' -> GeoBox; ValueError when malformed."""
        parts = [float(p) for p in text.split(",")]
        if len(parts) != 4:
            raise ValueError("a box is min_lat,min_lon,max_lat,max_lon")
        box = cls(*parts)
        if not (-90 <= box.min_lat <= box.max_lat <= 90 and -180 <= box.min_lon <= box.max_lon <= 180):
            raise ValueError(f"box {text!r} is not min_lat,min_lon,max_lat,max_lon in degrees")
        return box

    def contains(self, location: Any) -> bool:
        """Whether a stored location lies inside; a place not known is outside."""
        ll = location_latlon(location)
        return ll is not None and self.min_lat <= ll[0] <= self.max_lat and self.min_lon <= ll[1] <= self.max_lon
