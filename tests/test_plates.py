"""Plates in footage and in still images, from the user's side: `evidence process --json` lists
plate sightings (voted over frames, crops kept as derivatives), sightings split by segment cuts
are joined, `evidence plates read` reads images. Real clips, real ffmpeg, the real ONNX models."""

from __future__ import annotations

import json
import random
import zipfile
from pathlib import Path

import cv2
import pytest
from sqlalchemy import select

from evidence.db.tables import Derivative, Evidence, PlateSightingRow
from evidence.work import analyse_evidence, ingest_clip
from evidence.audit import Actor
from evidence.runtime import Runtime
from conftest import frame_at
from evidence.settings import Settings
from pipeline.platereading import read_image
from samples.make_samples import Vehicle, render_clip
from samples.plates import car_with_plate, plate_crop, render_national, render_two_line, scene, street_background

CARS = [
    Vehicle("AB12CDE", "current", 0.5, 5.0, (0.15, 0.62), (0.8, 0.62), (150, 190)),
    Vehicle("K881MWE", "prefix", 6.0, 10.0, (0.9, 0.7), (0.3, 0.7), (170, 140), font="dejavu_condensed_bold",
            rear=False, seed=1),
]


@pytest.fixture(scope="session")
def car_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render_clip(tmp_path_factory.mktemp("cars") / "cars.mp4", [], 11.0, size_wh=(1280, 720), seed=21,
                       vehicles=CARS)


def test_process_lists_one_sighting_per_vehicle_with_crops_and_provenance(cli, car_clip, env):
    res = cli("process", car_clip, "--incident", "INC-CARS", "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    plates = out["plates"]
    assert [p["plate"] for p in plates] == ["AB12CDE", "K881MWE"]
    for p, car in zip(plates, CARS, strict=True):
        assert p["valid"] and p["format"] == car.format and p["review_state"] == "pending"
        assert p["confidence"] >= 0.6 and p["n_reads"] >= 2
        assert car.t_in_s - 1 <= p["first_t_s"] <= p["last_t_s"] <= car.t_out_s
        for key in ("crop_path", "overview_path"):
            image = cv2.imread(p[key])
            assert image is not None
        assert cv2.imread(p["overview_path"]).shape[1] > 2 * cv2.imread(p["crop_path"]).shape[1]
    rt = Runtime(Settings())
    with rt.sessions() as s:
        ev = s.scalar(select(Evidence))
        rows = list(s.scalars(select(PlateSightingRow)))
        for row in rows:
            for deriv in (s.get(Derivative, row.crop_id), s.get(Derivative, row.overview_id)):
                assert deriv.parent_sha256 == ev.sha256 and deriv.kind in ("plate_crop", "plate_overview")
                assert {"ppocr-v6-det", "fast-plate-ocr-cct-xs-v2"} <= deriv.made_by["models"].keys()
                assert deriv.made_by["parameters"]["min_confidence"] == 0.6
                assert deriv.made_by["parameters"]["recogniser"]["name"] == "fast-plate-ocr-cct-xs-v2"
            assert {r["plate"] for r in row.reads} >= {row.vrm}
        assert ev.provenance["plates"]["sightings"] == 2


def test_the_table_output_lists_plates_and_no_plates_skips_the_search(cli, car_clip, env):
    res = cli("process", car_clip)
    assert res.exit_code == 0, res.output
    assert "2 plate sighting(s)" in res.stdout and "AB12CDE" in res.stdout
    res = cli("process", car_clip, "--no-plates", "--json")
    assert json.loads(res.stdout)["plates"] == []


def test_a_disclosure_copy_with_plates_redacted_hides_every_plate(cli, env, tmp_path):
    clip = render_clip(tmp_path / "pass.mp4", [], 4.0, size_wh=(1280, 720), seed=22, vehicles=[
        Vehicle("AB12CDE", "current", 0.2, 3.8, (0.15, 0.62), (0.8, 0.62), (150, 190)),
        Vehicle("K881MWE", "prefix", 0.2, 3.8, (0.9, 0.3), (0.5, 0.3), (170, 140), font="dejavu_condensed_bold",
                rear=False, seed=1)])
    assert cli("process", clip, "--incident", "INC-RED").exit_code == 0
    out = tmp_path / "red.zip"
    res = cli("export", "INC-RED", "--out", out, "--reason", "disclosure", "--redact-plates")
    assert res.exit_code == 0, res.output
    with zipfile.ZipFile(out) as zf:
        files = json.loads(zf.read("files.json"))
        red = next(f for f in files if f["role"] == "redacted_copy")
        (tmp_path / "red.mp4").write_bytes(zf.read(red["path"]))
        working = next(f for f in files if f["role"] == "working_copy")
        (tmp_path / "working.mp4").write_bytes(zf.read(working["path"]))
    assert red["parent_sha256"] == working["sha256"]
    rt = Runtime(Settings())

    def plates_at(video: Path, t_s: float) -> list[str]:
        return [d.read.plate for d in read_image(frame_at(video, t_s), rt.plates.detector, rt.plates.recogniser)]

    for t_s in (1.0, 2.5):
        assert {"AB12CDE", "K881MWE"} <= set(plates_at(tmp_path / "working.mp4", t_s))
        assert plates_at(tmp_path / "red.mp4", t_s) == []


def test_sightings_split_by_segment_cuts_are_joined(car_clip, tmp_path, face_models):
    results = {}
    for segment_s in (30.0, 3.0):
        rt = Runtime(Settings(data_dir=tmp_path / f"seg{segment_s}", segment_s=segment_s, working_copy=False))
        rt.faces = face_models
        evidence_id = ingest_clip(rt, car_clip, "INC-SEG", Actor("test", "admin"))
        analyse_evidence(rt, evidence_id)
        with rt.sessions() as s:
            rows = sorted(s.scalars(select(PlateSightingRow)), key=lambda r: r.first_t_s)
            results[segment_s] = [(r.vrm, r.n_reads) for r in rows]
            segments = {r.segment for r in rows}
            ev = s.get(Evidence, evidence_id)
            stitched = ev.provenance["plates"]["sightings_stitched_across_cuts"]
    assert results[3.0] == results[30.0]  # the same sightings, with the same reads, cut or not
    assert [vrm for vrm, _ in results[3.0]] == ["AB12CDE", "K881MWE"] and all(n >= 3 for _, n in results[3.0])
    assert stitched >= 1 and len(segments) == 2


def test_plates_read_prints_reads_per_image_and_reports_bad_files(cli, tmp_path):
    rng = random.Random(5)
    paths = []
    for i, (plate, fmt) in enumerate([("BD51SMR", "current"), ("Y123ABC", "prefix")]):
        frame, box = scene(plate, fmt, rng, clean=True)
        paths.append(tmp_path / f"scene{i}.jpg")
        cv2.imwrite(str(paths[-1]), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    crop = tmp_path / "crop.png"
    cv2.imwrite(str(crop), cv2.cvtColor(plate_crop("LV70XKE", "current", rng, clean=True), cv2.COLOR_RGB2BGR))
    empty = tmp_path / "empty.jpg"
    cv2.imwrite(str(empty), cv2.cvtColor(cv2.imread(str(paths[0]))[:200, :300], cv2.COLOR_BGR2RGB))
    bad = tmp_path / "notes.jpg"
    bad.write_text("not an image")
    res = cli("plates", "read", *paths, crop, empty, bad, "--json")
    assert res.exit_code == 2
    lines = [json.loads(line) for line in res.stdout.splitlines()]
    got = {Path(x["image"]).name: [r["plate"] for r in x["reads"]] for x in lines}
    assert got == {"scene0.jpg": ["BD51SMR"], "scene1.jpg": ["Y123ABC"], "crop.png": ["LV70XKE"], "empty.jpg": []}
    first = lines[0]["reads"][0]
    assert 0.6 <= first["confidence"] <= 1 and len(first["xyxy"]) == 4 and first["valid"]
    assert "notes.jpg" in res.stderr and "not a readable image" in res.stderr
    res = cli("plates", "read", paths[0])
    assert res.exit_code == 0 and "BD51SMR" in res.stdout


def test_hotlisted_plate_in_footage_hits_the_linked_incident_and_a_person_reviews_the_read(car_clip, env, face_models):
    from fastapi.testclient import TestClient

    from api.main import create_app
    from evidence.anpr import add_hotlist
    from evidence.db.tables import AuditEntry
    from evidence.keys import create_key

    admin = Actor("test-admin", "admin")
    app = create_app(Settings(working_copy=False))
    rt = app.state.runtime
    rt.faces = face_models
    client = TestClient(app)
    cr = {"Authorization": f"Bearer {create_key(rt, 'operator 7', 'control_room', admin)[1]}"}
    wanted = client.post("/incidents", json={"reference": "INC-WANTED"}, headers=cr).json()["id"]
    add_hotlist(rt, "AB12CDE", "used in a burglary", "wanted", wanted, None, admin)
    evidence_id = ingest_clip(rt, car_clip, "INC-FIREWORKS", admin)
    analyse_evidence(rt, evidence_id)
    with rt.sessions() as s:
        own = s.get(Evidence, evidence_id).incident_id
    for incident in (wanted, own):
        hits = [e for e in client.get(f"/incidents/{incident}/timeline", headers=cr).json() if e["kind"] == "anpr.hit"]
        assert len(hits) == 1 and hits[0]["source"] == "footage" and hits[0]["vrm"] == "AB12CDE"
        assert "verify" in hits[0]
    plates = client.get(f"/incidents/{own}", headers=cr).json()["evidence"][0]["plates"]
    assert [p["plate"] for p in plates] == ["AB12CDE", "K881MWE"]
    image = client.get(plates[0]["overview_url"], headers=cr)
    assert image.status_code == 200 and image.content[:2] == b"\xff\xd8"
    review = client.post(f"/plate-sightings/{plates[0]['id']}/review",
                         json={"decision": "confirmed", "reason": "plate legible in the crop"}, headers=cr)
    assert review.json()["review_state"] == "confirmed" and review.json()["reviewed_by"] == "operator 7"
    again = client.post(f"/plate-sightings/{plates[0]['id']}/review", json={"decision": "rejected", "reason": "x"},
                        headers=cr)
    assert again.status_code == 409
    search = client.get("/search/plates", params={"q": "K88?MWE", "reason": "enquiry"}, headers=cr).json()
    assert [(r["source"], r["vrm"], r["evidence_id"]) for r in search["results"]] == [
        ("footage", "K881MWE", evidence_id)]
    with rt.sessions() as s:
        actions = {e.action for e in s.scalars(select(AuditEntry))}
    assert {"anpr.hit", "plate_sighting.view_image", "plate_sighting.confirmed"} <= actions
    # A re-analysis keeps the person's decision and replaces only the unreviewed sighting.
    analyse_evidence(rt, evidence_id)
    with rt.sessions() as s:
        rows = sorted(s.scalars(select(PlateSightingRow)), key=lambda r: r.first_t_s)
        assert [(r.vrm, r.review_state) for r in rows] == [("AB12CDE", "confirmed"), ("K881MWE", "pending")]


# (country, characters as the plate spaces them): German, French, Dutch, Irish, US and UK plates
# rendered as each country makes them (EU band and code, background, separators, seals).
NATIONAL = [("DE", ("M", "AB", "1234")), ("FR", ("AB", "123", "CD")), ("NL", ("GH", "45", "JK")),
            ("IE", ("191", "D", "12345")), ("US", ("7ABC123",)), ("GB", ("KX19", "NFD"))]


def test_plates_of_six_countries_are_read_as_themselves_with_their_country(cli, tmp_path):
    """Real models on street frames: the plate-trained reader names each plate's country; a foreign
    registration keeps its characters (format ``foreign``, not a UK plate) where the UK grammar
    would force it into a UK shape, a UK one is read in its format; a square two-line plate is read
    as one registration."""
    paths = {}
    for i, (country, parts) in enumerate(NATIONAL):
        rng = random.Random(i)
        img = render_national(list(parts), country)
        small = cv2.resize(img, (240, round(img.shape[0] * 240 / img.shape[1])), interpolation=cv2.INTER_AREA)
        frame = street_background(1280, 720, rng)
        car = car_with_plate(small, rng)
        frame[300:300 + car.shape[0], 200:200 + car.shape[1]] = car
        paths[country] = tmp_path / f"{country}.jpg"
        cv2.imwrite(str(paths[country]), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    two = render_two_line("AB12", "CDE", "roadgeek_d")
    small = cv2.resize(two, (150, round(two.shape[0] * 150 / two.shape[1])), interpolation=cv2.INTER_AREA)
    frame = street_background(1280, 720, random.Random(9))
    frame[400:400 + small.shape[0], 600:600 + small.shape[1]] = small
    paths["two-line"] = tmp_path / "two-line.jpg"
    cv2.imwrite(str(paths["two-line"]), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    res = cli("plates", "read", *paths.values(), "--json")
    assert res.exit_code == 0, res.stderr
    got = {Path(x["image"]).stem: [(r["plate"], r["region"], r["format"], r["valid"]) for r in x["reads"]]
           for x in map(json.loads, res.stdout.splitlines())}
    for country, parts in NATIONAL:
        expected = ("".join(parts), country, "current", True) if country == "GB" else \
            ("".join(parts), country, "foreign", False)
        assert got[country][:1] == [expected], got[country]
    assert got["two-line"][:1] == [("AB12CDE", "GB", "current", True)]  # not "AB12" and "CDE" apart
    res = cli("plates", "read", paths["FR"])
    assert "AB123CD (" in res.stdout and ", FR" in res.stdout


def test_a_hotlisted_foreign_plate_in_footage_hits_with_its_country(env, face_models, tmp_path):
    """A French car on the hotlist, seen in a clip: the sighting keeps its French registration and
    country, and the hit lands on the linked incident's feed."""
    from evidence.anpr import add_hotlist
    from evidence.db.tables import IncidentEvent

    clip = render_clip(tmp_path / "french.mp4", [], 5.0, size_wh=(1280, 720), seed=23, vehicles=[
        Vehicle("AB123CD", "foreign", 0.3, 4.7, (0.2, 0.6), (0.75, 0.6), (200, 230), country="FR",
                parts=("AB", "123", "CD"))])
    admin = Actor("test-admin", "admin")
    rt = Runtime(Settings(working_copy=False))
    rt.faces = face_models
    with rt.sessions.begin() as s:
        from evidence.work import get_or_create_incident

        wanted = get_or_create_incident(s, "INC-FR-WANTED").id
    add_hotlist(rt, "AB123CD", "stolen in Lyon", "stolen", wanted, None, admin)
    evidence_id = ingest_clip(rt, clip, "INC-FR-SEEN", admin)
    analyse_evidence(rt, evidence_id)
    with rt.sessions() as s:
        rows = list(s.scalars(select(PlateSightingRow).where(PlateSightingRow.evidence_id == evidence_id)))
        assert [(r.vrm, r.region, r.format, r.valid) for r in rows] == [("AB123CD", "FR", "foreign", False)]
        hits = [e.data for e in s.scalars(select(IncidentEvent).where(IncidentEvent.kind == "anpr.hit",
                                                                      IncidentEvent.incident_id == wanted))]
    assert len(hits) == 1 and hits[0]["vrm"] == "AB123CD" and hits[0]["source"] == "footage"
