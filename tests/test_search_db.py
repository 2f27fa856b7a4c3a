"""The searches' SQL on both databases (SQLite and PostgreSQL): plate key ranges (forward and
reversed), face search through the index and the database join, filters, people grouping. Rows are
written directly (synthetic embeddings and reads); the clips' side is tests/test_search.py."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import func, select

from evidence.audit import Actor
from evidence.db.tables import AnprRead, Evidence, FaceTrackRow, Incident, utcnow
from evidence.unknown_people import incident_people
from evidence.runtime import Runtime
from evidence.search import FaceFilters, search_embedding, search_plates
from evidence.settings import Settings
from pipeline.geo import GeoBox
from pipeline.plates import confusion_key

INV = Actor("DC 4411 Jones", "investigator")


@pytest.fixture
def rt(database_url, tmp_path, face_models):
    runtime = Runtime(Settings(data_dir=tmp_path / "data", database_url=database_url))
    runtime.faces = face_models
    return runtime


def test_plate_patterns_find_the_same_reads_on_both_databases(rt):
    now = utcnow()
    with rt.sessions.begin() as s:
        for i, vrm in enumerate(["AB12CDE", "AB17CDE", "XY12CDE", "A812C0E", "AB12CDF", "ZZ99ZZZ", "CDE1AB"]):
            key = confusion_key(vrm)
            s.add(AnprRead(camera_id="CAM-1", read_at=now - timedelta(minutes=i), vrm_read=vrm, vrm=vrm, vrm_key=key,
                           vrm_key_rev=key[::-1], valid=True, confidence=0.9,
                           location={"lat": 51.52, "lon": -0.31} if i % 2 == 0 else None))

    def found(q, **kw):
        return sorted(r["vrm"] for r in search_plates(rt, q, "op NIGHTJAR", INV, **kw)[0])

    assert found("*CDE") == ["A812C0E", "AB12CDE", "AB17CDE", "XY12CDE"]
    assert found("?B12CDE") == ["A812C0E", "AB12CDE"]
    assert found("AB1?CDE") == ["A812C0E", "AB12CDE", "AB17CDE"]
    assert found("AB*") == ["A812C0E", "AB12CDE", "AB12CDF", "AB17CDE"]
    assert found("*12C*") == ["A812C0E", "AB12CDE", "AB12CDF", "XY12CDE"]
    assert found("*CDE", box=GeoBox(51.5, -0.4, 51.6, -0.2)) == ["AB12CDE", "XY12CDE"]
    assert found("*CDE", since=now - timedelta(minutes=1, seconds=30)) == ["AB12CDE", "AB17CDE"]


def _person(rng, centre):
    return (centre + rng.normal(0, 0.02, (2, 128))).astype("<f4")


def test_face_search_and_people_on_both_databases(rt):
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 0.06, 128), rng.normal(0, 0.06, 128)
    with rt.sessions.begin() as s:
        incidents = [Incident(reference=f"INC-{i}") for i in range(2)]
        s.add_all(incidents)
        s.flush()
        evidence = [Evidence(incident_id=incidents[i].id, sha256=f"{i:064x}", original_name=f"clip{i}.mp4", size_bytes=1,
                             store_path="x", state="done", media={"location": "+51.5072-000.1276/"} if i == 0 else {})
                    for i in range(2)]
        s.add_all(evidence)
        s.flush()
        # Person A in both clips, person B in the first, each on screen at a different time.
        for k, (ev, centre, t) in enumerate([(evidence[0], a, 1.0), (evidence[0], b, 5.0), (evidence[1], a, 2.0)]):
            s.add(FaceTrackRow(embedder="dlib-resnet-v1", evidence_id=ev.id, track_index=k, first_t_s=t, last_t_s=t + 1, best_t_s=t + 0.5,
                               best_xyxy=[0, 0, 100, 100], n_detections=4, quality=1.0, closed=True,
                               embeddings=_person(rng, centre).tobytes()))
        ids = [e.id for e in evidence]
        inc = [i.id for i in incidents]
    probe = (a + rng.normal(0, 0.02, 128)).astype(np.float32)
    found = search_embedding(rt, probe, {"probe": "test"}, "op NIGHTJAR", INV)["results"]
    assert sorted(r["evidence_id"] for r in found) == sorted(ids) and found[0]["distance"] < 0.6
    near = search_embedding(rt, probe, {}, "op NIGHTJAR", INV, FaceFilters(box=GeoBox(51.4, -0.2, 51.6, 0.0)))
    assert [r["evidence_id"] for r in near["results"]] == [ids[0]]
    only = search_embedding(rt, probe, {}, "op NIGHTJAR", INV, FaceFilters(incident_ids=(inc[1],)))
    assert [r["evidence_id"] for r in only["results"]] == [ids[1]]
    later = search_embedding(rt, probe, {}, "op NIGHTJAR", INV, FaceFilters(since=utcnow() + timedelta(hours=1)))
    assert later["results"] == []
    # Kept in step: a track written after the index was built is found; a deleted one is not listed.
    with rt.sessions.begin() as s:
        s.add(FaceTrackRow(embedder="dlib-resnet-v1", evidence_id=ids[1], track_index=9, first_t_s=8.0, last_t_s=9.0, best_t_s=8.5,
                           best_xyxy=[0, 0, 100, 100], n_detections=4, quality=1.0, closed=True,
                           embeddings=_person(rng, a).tobytes()))
    again = search_embedding(rt, probe, {}, "op NIGHTJAR", INV)["results"]
    assert len(again) == 3 and 8.5 in [r["t_s"] for r in again]
    with rt.sessions.begin() as s:
        s.delete(s.get(FaceTrackRow, again[-1]["track_id"]))
    assert len(search_embedding(rt, probe, {}, "op NIGHTJAR", INV)["results"]) == 2
    # The newest track deleted (as a stitch or a re-run does), then another written: its id is new
    # (never the deleted one's, which the index has already passed), so it is found.
    with rt.sessions.begin() as s:
        newest = s.scalar(select(func.max(FaceTrackRow.id)))
        s.delete(s.get(FaceTrackRow, newest))
    with rt.sessions.begin() as s:
        row = FaceTrackRow(embedder="dlib-resnet-v1", evidence_id=ids[1], track_index=10, first_t_s=12.0, last_t_s=13.0, best_t_s=12.5,
                           best_xyxy=[0, 0, 100, 100], n_detections=4, quality=1.0, closed=True,
                           embeddings=_person(rng, a).tobytes())
        s.add(row)
        s.flush()
        assert row.id > newest
    assert 12.5 in [r["t_s"] for r in search_embedding(rt, probe, {}, "op NIGHTJAR", INV)["results"]]
    people = incident_people(rt, inc[0], INV)["people"]
    assert len(people) == 2
    person_a = next(p for p in people if p["elsewhere"])
    assert [e["evidence_id"] for e in person_a["elsewhere"]] == [ids[1]]
