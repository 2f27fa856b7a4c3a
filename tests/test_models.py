"""Models as profiles, from the user's side: `evidence models` lists the model playing each role
(name, version, SHA-256, licence) and refuses a name no manifest holds; a force's own embedder
plugged in through its own manifest is never compared with the vectors another embedder made —
matching refuses naming `evidence models reembed`, searches leave those tracks out and say so —
and after `evidence models reembed` (audited) matching and search work again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from cli.main import main
from conftest import FACES
from evidence.audit import Actor
from evidence.db.tables import AuditEntry, CandidateRow, Evidence, FaceTrackRow, WatchlistReference
from evidence.errors import ModelMismatch
from evidence.keys import create_key
from evidence.runtime import FaceModels, Runtime
from evidence.search import search_faces
from evidence.settings import Settings
from evidence.watchlists import enrol, folder_enrolments
from evidence.work import analyse_evidence, ingest_clip
from models.registry import ROLES, catalogue
from pipeline.errors import ModelUnavailable

ADMIN = Actor("test-admin", "admin")


def test_evidence_models_lists_every_role_with_its_version_sha256_and_licence(cli):
    res = cli("models")
    assert res.exit_code == 0, res.output
    for role, name in [("face_detector", "centerface"), ("face_aligner", "dlib-5-point"),
                       ("face_embedder", "dlib-resnet-v1"), ("plate_localiser", "ppocr-v6-det"),
                       ("plate_recogniser", "fast-plate-ocr-cct-xs-v2")]:
        line = next(line for line in res.stdout.splitlines() if line.startswith(role))
        assert name in line and catalogue().get(name).provenance.split(" (")[0] in line
    rows = [json.loads(line) for line in cli("models", "--all", "--json").stdout.splitlines()]
    assert {r["role"] for r in rows if r["active"]} == set(ROLES)
    assert {"yunet", "hog", "ppocr-v6-rec"} <= {r["name"] for r in rows if not r["active"]}
    assert all(r["licence"] and (r["sha256"] or r["package"] == "dlib-bin") for r in rows)


def test_a_model_name_no_manifest_holds_is_refused_naming_the_setting_and_the_choices(cli, monkeypatch):
    monkeypatch.setenv("EVIDENCE_PLATE_RECOGNISER", "best-ocr-ever")
    res = CliRunner().invoke(main, ["models"], obj=Runtime(Settings()))
    assert res.exit_code == 2
    assert "EVIDENCE_PLATE_RECOGNISER" in res.stderr and "fast-plate-ocr-cct-xs-v2" in res.stderr


def test_the_embedder_in_onnxruntime_gives_dlibs_own_descriptors():
    """Issue 31: dlib's network rebuilt as ONNX (models/recipes/dlib_resnet_to_onnx.py) keeps dlib's
    model identity only while its descriptors stay within 1e-4 of dlib's on every sample face."""
    from models.dlib_faces import DlibAligner, DlibEmbedder, DlibHogDetector

    entry = catalogue().get("dlib-resnet-v1")
    onnx, dlib = DlibEmbedder(entry, "onnx"), DlibEmbedder(entry, "dlib")
    assert onnx.runtime_entry is not None and onnx.runtime_entry.path().exists()  # verified by its SHA-256
    detector, aligner = DlibHogDetector(upsample=1), DlibAligner()
    photos = sorted(FACES.rglob("*.jpg"))
    worst = 0.0
    for photo in photos:
        image = np.ascontiguousarray(cv2.imread(str(photo))[:, :, ::-1])
        faces = detector.detect(image)
        assert faces, f"{photo.name}: no face found to compare on"
        (box, _), *_ = faces
        points = aligner.landmarks(image, box)
        ours, theirs = onnx.embed(image, points), dlib.embed(image, points)
        assert ours.dtype == np.float32 and ours.shape == (128,)
        worst = max(worst, float(np.abs(ours - theirs).max()))
    assert len(photos) >= 20 and worst <= 1e-4, worst
    with pytest.raises(ModelUnavailable, match="runtime 'gpu'"):
        DlibEmbedder(entry, "gpu")


def test_the_embedders_runtime_is_a_setting_shown_and_recorded(cli, monkeypatch):
    listed = cli("models").stdout
    assert "runs in: onnxruntime (dlib-resnet-v1-onnx" in listed and "EVIDENCE_FACE_EMBEDDER_RUNTIME" in listed
    monkeypatch.setenv("EVIDENCE_FACE_EMBEDDER_RUNTIME", "dlib")
    assert "runs in: dlib" in CliRunner().invoke(main, ["models"], obj=Runtime(Settings())).stdout
    models = FaceModels.for_settings(Settings(), catalogue())
    assert "dlib-resnet-v1-onnx" not in models.versions and models.embedder.runtime == "dlib"
    monkeypatch.setenv("EVIDENCE_FACE_EMBEDDER_RUNTIME", "onnx")
    models = FaceModels.for_settings(Settings(), catalogue())
    assert models.versions["dlib-resnet-v1-onnx"] == catalogue().get("dlib-resnet-v1-onnx").provenance
    monkeypatch.setenv("EVIDENCE_FACE_EMBEDDER_RUNTIME", "gpu")
    with pytest.raises(ValueError, match="face_embedder_runtime"):
        Settings()


def test_the_face_detector_starts_from_its_kept_copy_without_importing_onnx(tmp_path):
    """CenterFace's copy with free input sizes is made once (with ``onnx``) and kept in the user's
    cache by the shipped file's SHA-256; the next process builds its session from it without
    importing ``onnx`` (~0.5 s a process), and finds the same faces."""
    probe = ("import sys, cv2; from models.centerface import CenterFaceDetector; "
             "img = cv2.cvtColor(cv2.imread(sys.argv[1]), cv2.COLOR_BGR2RGB); "
             "print([tuple(round(v) for v in b) for b, _, _ in CenterFaceDetector().detect_with_landmarks(img)]); "
             "print('onnx' in sys.modules)")
    root = Path(__file__).resolve().parents[1]
    photo = str(root / "samples/faces/Gordon_Brown/Gordon_Brown_0006.jpg")
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path), "PYTHONPATH": str(root)}
    first, second = (subprocess.run([sys.executable, "-c", probe, photo], env=env, capture_output=True, text=True,
                                    check=True).stdout.split("\n") for _ in range(2))
    assert first[1] == "True" and second[1] == "False", (first, second)
    assert first[0] == second[0] and first[0] != "[]"
    kept = tmp_path / "evidence-pipeline" / f"centerface-{catalogue().get('centerface').sha256}-free-shapes-v1.onnx"
    assert sorted(p.name for p in kept.parent.iterdir()) == [kept.name, kept.name + ".sha256"]
    kept.write_bytes(kept.read_bytes()[:1000])  # damaged: made again, the same faces found
    third = subprocess.run([sys.executable, "-c", probe, photo], env=env, capture_output=True, text=True,
                           check=True).stdout.split("\n")
    assert third[:2] == [first[0], "True"] and kept.stat().st_size > 1000


def test_every_profile_in_the_manifest_is_built_through_its_adapter():
    cat = catalogue()
    for role in ROLES:
        for entry in cat.for_role(role):
            model = cat.build(role, entry.name)
            assert model.entry is entry


@pytest.fixture
def rotated_manifest(tmp_path: Path) -> Path:
    """A force's own manifest: one embedder entry naming its adapter, file, SHA-256 and calibration."""
    dlib = catalogue().get("dlib-resnet-v1")
    # Its entry names dlib's ONNX file too ("uses" copied whole): options its adapter does not take
    # (the embedder's runtime) are not passed to it.
    entry = {**{k: getattr(dlib, k) for k in ("package", "sha256", "dimension", "metric", "uses", "thresholds")},
             "name": "rotated-dlib", "role": "face_embedder", "adapter": "rotated_embedder:RotatedEmbedder",
             "file": str(dlib.path()), "version": "dlib ResNet v1 turned by a fixed rotation (a test model)",
             "source": "tests/rotated_embedder.py", "licence": "CC0-1.0 (as dlib's)"}
    path = tmp_path / "force-models.json"
    path.write_text(json.dumps({"models": [entry]}))
    return path


def test_a_swapped_embedder_never_compares_vectors_until_reembed(env, face_models, clips, watchlist_dir,
                                                                 rotated_manifest, monkeypatch):
    dlib = Runtime(Settings())
    dlib.faces = face_models
    enrol(dlib, folder_enrolments(watchlist_dir), ADMIN)
    first = ingest_clip(dlib, clips["street"], "INC-1", ADMIN)
    analyse_evidence(dlib, first)
    with dlib.sessions() as s:
        before = sorted(c.subject.name for c in s.scalars(select(CandidateRow)))
    assert before == ["Gordon_Brown", "Kim_Clijsters"]
    probe = (FACES / "Gordon_Brown" / "Gordon_Brown_0001.jpg").read_bytes()
    assert search_faces(dlib, probe, "gb.jpg", "enquiry", ADMIN)["results"]

    # The force plugs in its own embedder (another model: another vector space).
    monkeypatch.setenv("EVIDENCE_MODEL_MANIFESTS", json.dumps([str(rotated_manifest)]))
    monkeypatch.setenv("EVIDENCE_FACE_EMBEDDER", "rotated-dlib")
    rot = Runtime(Settings())
    key = create_key(rot, "Test Administrator", "admin", ADMIN)[1]

    def cli(*args: str):
        return CliRunner().invoke(main, list(args), obj=rot, env={"EVIDENCE_KEY": key}, catch_exceptions=False)

    listed = cli("models")
    assert "face_embedder     rotated-dlib" in listed.stdout
    assert "made by another embedder than rotated-dlib" in listed.stdout and "evidence models reembed" in listed.stdout
    found = search_faces(rot, probe, "gb.jpg", "enquiry", ADMIN)  # dlib's tracks are not searched
    assert found["results"] == [] and found["not_compared"] > 0 and "evidence models reembed" in found["not_compared_reason"]
    second = ingest_clip(rot, clips["phone"], "INC-2", ADMIN)
    with pytest.raises(ModelMismatch, match="evidence models reembed"):  # matching refuses
        analyse_evidence(rot, second)
    with rot.sessions() as s:
        assert "evidence models reembed" in (s.get(Evidence, second).failure_reason or "")
        assert s.scalar(select(CandidateRow).where(CandidateRow.evidence_id == second)) is None

    res = cli("models", "reembed", "--reason", "CR-0042: licensed embedder")
    assert res.exit_code == 0, res.output
    assert "evidence analysed again: 2" in res.stdout
    with rot.sessions() as s:
        assert {r.embedder for r in s.scalars(select(WatchlistReference))} == {"rotated-dlib"}
        assert {t.embedder for t in s.scalars(select(FaceTrackRow))} == {"rotated-dlib"}
        after = sorted(c.subject.name for c in s.scalars(select(CandidateRow).where(CandidateRow.evidence_id == first)))
        assert s.get(Evidence, second).state == "done"
        actions = [e.action for e in s.scalars(select(AuditEntry))]
    assert after == before  # matching works again, and finds what it found
    assert {"models.reembed", "watchlist.reembed", "evidence.reanalyse"} <= set(actions)
    again = search_faces(rot, probe, "gb.jpg", "enquiry", ADMIN)
    assert again["results"] and again["not_compared"] == 0 and again["embedder"] == "rotated-dlib"
    assert "nothing to do" in cli("models", "reembed", "--reason", "again").stdout  # resumable: done is done


def test_a_cosine_embedders_thresholds_and_vectors_are_on_the_euclidean_scale_of_unit_vectors(tmp_path):
    """A force's cosine model: its vectors are scaled to unit length and its thresholds, given as
    1 - cosine, become the Euclidean distances between unit vectors everything downstream uses."""
    import dataclasses

    import numpy as np

    from evidence.runtime import EmbedderProfile, UnitVectors

    dlib = catalogue().get("dlib-resnet-v1")
    cosine = dataclasses.replace(dlib, name="cosine-model", metric="cosine",
                                 thresholds={"same_person": 0.3, "search": 0.4, "people": 0.25,
                                             "watchlist_min": 0.2, "watchlist_max": 0.3})
    profile = EmbedderProfile.from_entry(cosine, catalogue())
    assert profile.search == pytest.approx(np.sqrt(0.8)) and profile.watchlist_bounds[0] == pytest.approx(np.sqrt(0.4))

    class Doubling:
        entry = cosine

        def embed(self, image, landmarks_xy):
            return np.full(128, 2.0, np.float32)

    v = UnitVectors(Doubling()).embed(np.zeros((4, 4, 3), np.uint8), np.zeros((5, 2), np.float32))
    assert np.linalg.norm(v) == pytest.approx(1.0)
