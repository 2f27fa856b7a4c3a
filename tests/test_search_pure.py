"""Pure parts of search, grouping and redaction, table-driven."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.facesearch import cluster_tracks, pair_distance, pair_distances, track_template
from pipeline.geo import GeoBox, location_latlon, parse_iso6709
from pipeline.plates import KeyQuery, key_query, prefix_upper_bound
from pipeline.redact import blur_regions, boxes_between

pytestmark = pytest.mark.fast  # `make check`: no clip analysed, no server started


@pytest.mark.parametrize("query, plan", [  # over confusion keys: B is 8, D and O are 0
    ("AB12CDE", KeyQuery("A812C0E", "A812C0E", "A812C0E", False)),
    ("AB1?CDE", KeyQuery("A81_C0E", None, "A81", False)),
    ("A?12CDE", KeyQuery("A_12C0E", None, "E0C21", True)),    # the longer literal end, read backwards
    ("*CDE", KeyQuery("%C0E", None, "E0C", True)),
    ("AB*", KeyQuery("A8%", None, "A8", False)),
    ("*12C*", KeyQuery("%12C%", None, "", False)),             # no literal end: a scan
    ("ab12 cdo", KeyQuery("A812C00", "A812C00", "A812C00", False)),
])
def test_plate_queries_use_the_longer_literal_end_as_an_index_range(query, plan):
    assert key_query(query) == plan


def test_prefix_upper_bound_is_above_every_key_with_the_prefix():
    assert prefix_upper_bound("EDC") == "EDD" and "EDCZZZZ" < prefix_upper_bound("EDC") <= "EDD"


@pytest.mark.parametrize("text, latlon", [("+51.5072-000.1276/", (51.5072, -0.1276)), ("-33.86+151.21+010/", (-33.86, 151.21)),
                                          ("nowhere", None), ("+95.0+000.0/", None)])
def test_iso6709_locations(text, latlon):
    assert parse_iso6709(text) == latlon


def test_a_box_holds_string_and_mapping_locations_and_refuses_nonsense():
    box = GeoBox.from_text("51.4,-0.2,51.6,0.0")
    assert box.contains("+51.5072-000.1276/") and box.contains({"lat": 51.5, "lon": -0.1})
    assert not box.contains({"lat": 52.5, "lon": -0.1}) and not box.contains(None)
    assert location_latlon({"lat": "x"}) is None
    for bad in ("1,2,3", "51.6,0,51.4,1", "a,b,c,d"):
        with pytest.raises(ValueError):
            GeoBox.from_text(bad)


def _person(rng, centre, n=3, noise=0.02):
    return (centre + rng.normal(0, noise, (n, 128))).astype(np.float32)


def test_tracks_of_one_person_group_together_and_cannot_links_hold():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 0.06, 128), rng.normal(0, 0.06, 128)  # ~0.96 apart: two people
    tracks = [_person(rng, a), _person(rng, b), _person(rng, a), _person(rng, b), _person(rng, a)]
    assert cluster_tracks(tracks, 0.5) == [0, 1, 0, 1, 0]
    # Tracks 0 and 2 were on screen together: never one group, though they look alike.
    labels = cluster_tracks(tracks, 0.5, cannot_link=[(0, 2)])
    assert labels[0] != labels[2] and labels[1] == labels[3]
    assert cluster_tracks([], 0.5) == []


def test_a_group_is_compared_face_by_face_as_it_is_looked_for_elsewhere():
    """A long track close to the bus clip's face and a short, poorer one of the same person: as a
    group they are 0.46 from it face by face (what `elsewhere` reports), though 0.55 track by track."""
    e1, e2 = np.eye(128, dtype=np.float32)[:2]
    long_track = np.tile(0.4 * e1, (4, 1))                      # 0.40 from the bus face
    short_track = (0.659375 * e1 + 0.2357 * e2).reshape(1, -1)  # 0.70 from it, 0.35 from the long track
    bus = np.zeros((2, 128), np.float32)
    assert pair_distance(np.concatenate([long_track, short_track]), bus) == pytest.approx(0.46, abs=1e-3)
    assert cluster_tracks([long_track, short_track, bus], 0.5) == [0, 0, 0]
    assert cluster_tracks([long_track, short_track, bus], 0.45) == [0, 0, 1]


def test_pair_distances_match_the_pairwise_definition():
    rng = np.random.default_rng(1)
    tracks = [rng.normal(0, 0.1, (k, 128)).astype(np.float32) for k in (1, 3, 2)]
    d = pair_distances(tracks)
    for i in range(3):
        for j in range(3):
            assert d[i, j] == pytest.approx(pair_distance(tracks[i], tracks[j]), abs=1e-5)
    assert track_template(tracks[1]).shape == (128,)


def test_between_detections_both_neighbours_boxes_are_blurred():
    detected = {0: [(0, 0, 10, 10)], 5: [(20, 0, 30, 10)]}
    assert boxes_between(0, 5, detected) == [(0, 0, 10, 10)]
    assert boxes_between(3, 5, detected) == [(0, 0, 10, 10), (20, 0, 30, 10)]
    assert boxes_between(7, 5, detected) == [(20, 0, 30, 10)]


def test_blurring_copies_the_frame_and_destroys_the_detail_inside_the_box():
    rng = np.random.default_rng(2)
    image = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
    before = image.copy()
    out = blur_regions(image, [(40, 30, 100, 90)], grow=0.0)
    assert np.array_equal(image, before)  # the caller's frame is untouched
    assert np.array_equal(out[:, :30], image[:, :30]) and out[40:80, 50:90].std() < image[40:80, 50:90].std() / 3
