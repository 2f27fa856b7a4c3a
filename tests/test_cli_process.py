"""`evidence process` and `evidence watchlist` from the user's side, on real clips and models."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from evidence.db.tables import CandidateRow, Evidence, FaceTrackRow
from evidence.mediaio import keyframe_times
from evidence.runtime import Runtime
from evidence.settings import Settings
from tests.served import admin_env

ROOT = Path(__file__).resolve().parent.parent


def truth(clip: Path) -> dict:
    return json.loads(clip.with_suffix(".truth.json").read_text())


def run_json(cli, *args) -> dict:
    res = cli("process", *args, "--json")
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_process_finds_the_watchlist_people_and_no_one_else(cli, clips, watchlist_dir, env):
    out = run_json(cli, clips["street"], "--watchlist", watchlist_dir, "--incident", "INC-1")
    t = truth(clips["street"])
    expected = {a["name"] for a in t["appearances"] if a["on_watchlist"]}
    assert {c["subject"] for c in out["candidates"] if c["rank"] == 1} == expected
    assert out["evidence"]["duration_s"] == pytest.approx(6.0, abs=0.1)
    assert len(out["evidence"]["sha256"]) == 64
    assert out["tracks"] >= 3
    for c in out["candidates"]:
        assert c["review_state"] == "pending" and c["score"] > 0 and c["distance"] <= c["threshold"]
        appearance = next(a for a in t["appearances"] if a["name"] == c["subject"])
        assert appearance["t_in_s"] - 0.6 <= c["t_s"] <= appearance["t_out_s"]
        crop = Path(c["crop_path"])
        assert crop.is_file() and crop.read_bytes()[:3] == b"\xff\xd8\xff"
    assert out["timing"]["first_candidate_s"] is not None


def test_process_table_output_and_progress(cli, clips, watchlist_dir):
    res = cli("process", clips["street"], "--watchlist", watchlist_dir)
    assert res.exit_code == 0
    assert "POTENTIAL match" in res.stdout and "Gordon_Brown" in res.stdout
    assert "analysing street.mp4" in res.stderr


def test_original_is_stored_read_only_under_its_hash_with_provenance(cli, clips, watchlist_dir, env):
    out = run_json(cli, clips["street"], "--watchlist", watchlist_dir)
    import hashlib

    sha = hashlib.sha256(clips["street"].read_bytes()).hexdigest()
    assert out["evidence"]["sha256"] == sha
    stored = env / "store" / "originals" / sha[:2] / sha
    assert stored.read_bytes() == clips["street"].read_bytes()
    assert not stored.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    rt = Runtime(Settings())
    with rt.sessions() as s:
        ev = s.scalar(select(Evidence))
        assert ev.provenance["parameters"]["match_threshold"] == rt.settings.match_threshold
        assert "dlib-resnet-v1" in ev.provenance["models"]
        assert ev.media["creation_time"].startswith("2026-11-05T21:14:03")
        assert ev.media["location"] == "+51.5072-000.1276/"
        # The key frames listed once, at the ingest, from the bytes kept: the plan reads them from here.
        assert ev.media["keyframes_s"] == [round(k, 4) for k in keyframe_times(stored)] and ev.media["keyframes_s"][0] == 0
        track = s.scalar(select(FaceTrackRow).where(FaceTrackRow.crop_id.is_not(None)))
        assert track.crop.parent_sha256 == sha
        assert track.crop.made_by["parameters"]["min_face_px"] == rt.settings.min_face_px


def test_reprocessing_the_same_clip_does_not_duplicate_results(cli, clips, watchlist_dir):
    first = run_json(cli, clips["street"], "--watchlist", watchlist_dir, "--incident", "INC-2")
    second = run_json(cli, clips["street"], "--incident", "INC-2")
    assert second["evidence"]["id"] == first["evidence"]["id"]
    assert len(second["candidates"]) == len(first["candidates"])
    rt = Runtime(Settings())
    with rt.sessions() as s:
        assert s.scalar(select(func.count()).select_from(CandidateRow)) == len(first["candidates"])


def test_rotated_phone_clip_is_analysed_upright(cli, clips, watchlist_dir):
    out = run_json(cli, clips["phone"], "--watchlist", watchlist_dir)
    assert out["evidence"]["rotation_deg"] in (90, 270)
    assert [c["subject"] for c in out["candidates"]] == ["Jennifer_Garner"]


def test_clip_with_no_faces_finishes_with_nothing(cli, clips, watchlist_dir):
    out = run_json(cli, clips["empty"], "--watchlist", watchlist_dir)
    assert out["evidence"]["state"] == "done"
    assert out["tracks"] == 0 and out["candidates"] == []


def test_watchlist_import_and_list(cli, watchlist_dir):
    res = cli("watchlist", "import", watchlist_dir)
    assert res.exit_code == 0 and "enrolled Gordon_Brown: 3" in res.stdout
    again = cli("watchlist", "import", watchlist_dir)
    assert "enrolled Gordon_Brown: 0" in again.stdout  # same photos are not enrolled twice
    listing = json.loads(cli("watchlist", "list", "--json").stdout)
    assert {r["name"]: r["references"] for r in listing} == {
        "Gordon_Brown": 3, "Kim_Clijsters": 3, "Jennifer_Garner": 3, "Tom_Ridge": 3}


def test_watchlist_add_by_name(cli, watchlist_dir):
    photos = sorted((watchlist_dir / "Tom_Ridge").iterdir())
    res = cli("watchlist", "add", "--name", "Tom Ridge", *photos[:2])
    assert res.exit_code == 0 and "enrolled Tom Ridge: 2" in res.stdout


def test_console_script_runs(env, clips):
    """The installed `evidence` entry point itself (a separate process, real environment)."""
    exe = Path(sys.executable).parent / "evidence"
    res = subprocess.run([str(exe), "process", str(clips["empty"]), "--json"], capture_output=True, text=True,
                         env=admin_env({**os.environ, "EVIDENCE_DATA_DIR": str(env)}), timeout=300)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["tracks"] == 0


def test_status_reports_state_and_progress(cli, analysed_env):
    res = cli("status", analysed_env)
    assert res.exit_code == 0 and res.stdout.strip() == \
        f"evidence {analysed_env}: done, 100 %; segments 1/1 done, working copy 1/1 done"
    missing = cli("status", 999)
    assert missing.exit_code == 2 and "evidence 999 not found" in missing.stderr


def test_footage_with_very_many_key_frames_keeps_none_in_its_record():
    """The evidence's row keeps its key frames for the plan only while they are few (intra-only video
    has one a frame: hours of it would put megabytes in every evidence row read); past the bound the
    plan lists them again."""
    from evidence.mediaio import KEYFRAMES_KEPT_MAX, kept_keyframes

    assert kept_keyframes([0.0, 2.00004, 4.0]) == {"keyframes_s": [0.0, 2.0, 4.0]}
    assert kept_keyframes([i / 25 for i in range(KEYFRAMES_KEPT_MAX + 1)]) == {}
