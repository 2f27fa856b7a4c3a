"""Maps of hits and sightings (api/pages/maps.py): positions as cameras and footage give them, the
force's own tiles only when configured (and allowed by the pages' Content-Security-Policy), a
plain background otherwise — nothing fetched from the internet by default."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from api.main import create_app
from api.pages.maps import Place, map_view, position
from evidence.hits import place_words
from evidence.settings import Settings

pytestmark = pytest.mark.fast  # `make check`: no clip analysed, no server started


def test_positions_from_a_cameras_object_and_from_footages_iso_6709():
    assert position({"lat": 51.52, "lon": -0.2, "name": "A40"}) == (51.52, -0.2)
    assert position("+51.5074-000.1278/") == (51.5074, -0.1278)
    assert position("+52.3862-001.7904+120.0/") == (52.3862, -1.7904)
    for nowhere in (None, "", "somewhere", {"name": "A40"}, {"lat": "x", "lon": 1}, {"lat": 95, "lon": 0},
                    {"lat": float("nan"), "lon": 0}):
        assert position(nowhere) is None, nowhere


def test_a_place_in_words_for_an_officer_from_a_camera_and_from_footage():
    """What an officer's message says under "Where" (evidence/hits.place_words): a camera's name,
    else coordinates people can read, never a raw ISO 6709 string."""
    assert place_words({"lat": 51.52, "lon": -0.2, "name": "A40 Westway"}) == "A40 Westway"
    assert place_words({"lat": 51.52, "lon": -0.2}) == "51.52000, -0.20000"
    assert place_words("+51.5072-000.1276/") == "51.50720, -0.12760"
    for nowhere in (None, "", "somewhere", {"lat": 95, "lon": 0}, {"lat": float("nan"), "lon": 0}):
        assert place_words(nowhere) is None, nowhere


def test_a_plain_map_fetches_nothing_and_says_where_in_words():
    m = map_view([Place(52.3862, -1.7904, "M42 J3")])
    assert m is not None and m["plain"] and m["tiles"] == []
    assert m["description"] == "Map: M42 J3 at 52.38620, -1.79040"
    marker = m["markers"][0]
    assert (marker["x"], marker["y"]) == (m["width"] / 2, m["height"] / 2)  # one place: in the middle
    assert m["bar_words"] in ("50 m", "100 m") and 0 < m["bar"] <= m["width"] / 3
    assert map_view([]) is None


def test_the_forces_tiles_cover_the_map_and_several_places_fit_on_it():
    places = [Place(51.52, -0.2, "A40 Westway"), Place(51.50, -0.12, "Westminster"), Place(51.53, -0.10, "Angel")]
    m = map_view(places, tiles="https://tiles.force.example/{z}/{x}/{y}.png", attribution="© the force")
    assert m is not None and not m["plain"] and m["attribution"] == "© the force"
    assert all(0 <= p["x"] <= m["width"] and 0 <= p["y"] <= m["height"] for p in m["markers"])
    zoom = {t["href"].split("/")[3] for t in m["tiles"]}
    assert len(zoom) == 1 and 10 <= int(zoom.pop()) <= 14  # a few kilometres across
    xs, ys = [t["x"] for t in m["tiles"]], [t["y"] for t in m["tiles"]]
    assert min(xs) <= 0 and max(xs) + 256 >= m["width"] and min(ys) <= 0 and max(ys) + 256 >= m["height"]


def test_map_settings_are_checked_and_the_tile_server_is_allowed_by_the_pages_policy(tmp_path):
    with pytest.raises(ValidationError, match="must hold"):
        Settings(data_dir=tmp_path, map_tiles="https://tiles.force.example/tile.png")
    with pytest.raises(ValidationError, match="not a time zone"):
        Settings(data_dir=tmp_path, timezone="Mars/Olympus")
    settings = Settings(data_dir=tmp_path, map_tiles="https://tiles.force.example/{z}/{x}/{y}.png")
    with TestClient(create_app(settings)) as client:
        policy = client.get("/signin").headers["content-security-policy"]
    assert "img-src 'self' data: https://tiles.force.example;" in policy
    with TestClient(create_app(Settings(data_dir=tmp_path / "plain"))) as client:
        assert "img-src 'self' data:;" in client.get("/signin").headers["content-security-policy"]
