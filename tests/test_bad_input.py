"""Bad input: each gives a one-line error and exit status 2 (or a recorded `failed` state), and
leaves no half-written rows or files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from sqlalchemy import func, select

from evidence.db.tables import Evidence, FaceTrackRow, WatchlistSubjectRow
from evidence.work import analyse_evidence, ingest_clip
from evidence.audit import Actor
from evidence.runtime import Runtime
from evidence.settings import Settings
from pipeline.errors import InvalidMedia

ROOT = Path(__file__).resolve().parent.parent
LFW = ROOT / "samples" / "faces"


def files_under(d: Path) -> list[Path]:
    return [p for p in d.rglob("*") if p.is_file()] if d.exists() else []


def stored_originals(data: Path) -> list[Path]:
    return files_under(data / "store" / "originals") + files_under(data / "store" / "tmp")


@pytest.fixture
def bad_files(tmp_path: Path, clips: dict[str, Path]) -> dict[str, Path]:
    d = tmp_path / "bad"
    d.mkdir()
    (d / "empty.mp4").write_bytes(b"")
    shutil.copyfile(LFW / "Gordon_Brown" / "Gordon_Brown_0001.jpg", d / "photo.mp4")
    (d / "notes.mp4").write_text("999 call notes: youths throwing fireworks at a house\n" * 20)
    (d / "random.mp4").write_bytes(np.random.default_rng(0).integers(0, 256, 200_000, dtype=np.uint8).tobytes())
    data = clips["street"].read_bytes()
    (d / "truncated.mp4").write_bytes(data[: len(data) // 2])  # moov at the end: index lost
    faststart = d / "faststart.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(clips["street"]), "-c", "copy", "-movflags",
                    "+faststart", str(faststart)], check=True)
    fs = faststart.read_bytes()
    (d / "truncated_faststart.mp4").write_bytes(fs[: int(len(fs) * 0.6)])  # index intact, data missing
    return d


@pytest.mark.parametrize("name, message", [
    ("empty.mp4", "empty file (0 bytes)"),
    ("photo.mp4", "not a video: the content is a JPEG image"),
    ("notes.mp4", "not a video: the content is a text file"),
    ("random.mp4", "not readable as video"),
    ("truncated.mp4", "not readable as video: moov atom not found (the MP4 index is missing, so the file is incomplete"),
    ("truncated_faststart.mp4", "truncated: the file ends"),
    ("missing.mp4", "no such file"),
])
def test_bad_clip_gives_one_line_error_and_stores_nothing(cli, env, bad_files, name, message):
    res = cli("process", bad_files / name, "--incident", "INC-BAD")
    assert res.exit_code == 2
    assert res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {name}: ") and message in lines[0], res.stderr
    assert stored_originals(env) == []
    res_json = cli("process", bad_files / name, "--json")
    assert res_json.exit_code == 2 and res_json.stdout == ""
    with Runtime(Settings()).sessions() as s:
        assert s.scalar(select(func.count()).select_from(Evidence)) == 0


def _damage(runtime, eid):
    with runtime.sessions() as s:
        path = runtime.store.absolute(s.get(Evidence, eid).store_path)
    os.chmod(path, 0o644)
    path.write_bytes(path.read_bytes()[:4096])  # simulate storage damage under the pipeline


def _assert_failed_clean(runtime, eid, reason):
    with runtime.sessions() as s:
        ev = s.get(Evidence, eid)
        assert ev.state == "failed" and reason in ev.failure_reason
        assert s.scalar(select(func.count()).select_from(FaceTrackRow)) == 0


def test_stored_original_damaged_before_analysis_is_caught_by_its_hash(runtime, clips):
    eid = ingest_clip(runtime, clips["street"], "INC-3", Actor("test", "admin"))
    _damage(runtime, eid)
    with pytest.raises(InvalidMedia, match="no longer matches its SHA-256"):
        analyse_evidence(runtime, eid)
    _assert_failed_clean(runtime, eid, "no longer matches its SHA-256")


def test_media_lost_mid_analysis_ends_failed_with_reason(runtime, clips, watchlist_dir):
    """A stored original that cannot be decoded mid-job: the evidence is `failed` with the reason,
    with no tracks or candidates left behind."""
    from evidence.work import prepare_evidence, run_item

    eid = ingest_clip(runtime, clips["street"], "INC-3", Actor("test", "admin"))
    todo = prepare_evidence(runtime, eid)  # checked and planned; then the disk loses it
    _damage(runtime, eid)
    with pytest.raises(InvalidMedia, match="decoding failed"):
        run_item(runtime, todo[0])
    _assert_failed_clean(runtime, eid, "decoding failed")


def test_corrupt_packets_are_decoded_past_and_recorded(cli, clips, tmp_path, watchlist_dir):
    """Bit-flipped data mid-file: ffmpeg decodes past it; the damage is recorded in provenance."""
    data = bytearray(clips["street"].read_bytes())
    # Inside the key frames after the first (always decoded, and every later frame refers to them),
    # wherever the encoder placed them in the file.
    packets = json.loads(subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pos,size,flags", "-of", "json",
         str(clips["street"])], capture_output=True, text=True, check=True).stdout)["packets"]
    keys = [p for p in packets if "K" in p["flags"]][1:]
    assert keys
    rng = np.random.default_rng(1)
    for p in keys:
        start, size = int(p["pos"]), int(p["size"])
        for pos in rng.integers(start + size // 4, start + size, 60):
            data[pos] ^= 0xFF
    flipped = tmp_path / "flipped.mp4"
    flipped.write_bytes(bytes(data))
    res = cli("process", flipped, "--watchlist", watchlist_dir, "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["evidence"]["state"] == "done"
    with Runtime(Settings()).sessions() as s:
        assert s.get(Evidence, out["evidence"]["id"]).provenance["decode_warnings"]


def _image_with_faces(path: Path, photos: list[Path]) -> Path:
    tiles = [cv2.imread(str(p)) for p in photos] or [np.full((250, 250, 3), 120, np.uint8)]
    cv2.imwrite(str(path), np.hstack(tiles))
    return path


def test_unusable_watchlist_photos_are_refused_and_nothing_is_enrolled(cli, tmp_path, env):
    gb = LFW / "Gordon_Brown"
    good = gb / "Gordon_Brown_0001.jpg"
    no_face = _image_with_faces(tmp_path / "wall.jpg", [])
    two = _image_with_faces(tmp_path / "two.jpg", [gb / "Gordon_Brown_0002.jpg", LFW / "Tom_Ridge" / "Tom_Ridge_0001.jpg"])
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    for bad, message in [(no_face, "no face found"), (two, "2 faces found"), (broken, "not a readable image")]:
        res = cli("watchlist", "add", "--name", "Gordon Brown", good, bad)
        assert res.exit_code == 2
        assert res.stderr.count("\n") == 1 and message in res.stderr
    with Runtime(Settings()).sessions() as s:
        assert s.scalar(select(func.count()).select_from(WatchlistSubjectRow)) == 0
    assert files_under(env / "store" / "references") == []


def test_watchlist_import_of_a_folder_without_photos(cli, tmp_path):
    res = cli("watchlist", "import", tmp_path)
    assert res.exit_code == 2 and "no <subject>/<photo> images found" in res.stderr


@pytest.mark.parametrize("args, suffix", [
    (["-ss", "1.3", "-t", "3", "-c", "copy"], ".mp4"),          # cut between keyframes: an edit list
    (["-t", "3", "-c", "copy"], ".mkv"),                          # no frame count in the header
    (["-t", "3", "-c", "copy", "-movflags", "+faststart"], ".mov"),
])
def test_sound_clips_in_other_shapes_are_not_refused(clips, tmp_path, args, suffix):
    from evidence.mediaio import probe_media

    out = tmp_path / f"cut{suffix}"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(clips["street"]), *args, str(out)], check=True)
    info = probe_media(out)
    assert 2.0 < info.duration_s < 3.6 and info.size_wh == (1280, 720)  # copy cuts snap to keyframes


def test_folder_import_enrols_usable_photos_and_reports_the_rest(cli, tmp_path):
    """One bad photo must not block a watchlist of many subjects: it is skipped with one warning
    line, the exit status says something was skipped, and every enrolled subject is complete."""
    wl = tmp_path / "wl"
    (wl / "Gordon_Brown").mkdir(parents=True)
    (wl / "Nobody").mkdir()
    shutil.copyfile(LFW / "Gordon_Brown" / "Gordon_Brown_0001.jpg", wl / "Gordon_Brown" / "a.jpg")
    _image_with_faces(wl / "Gordon_Brown" / "two.jpg",
                      [LFW / "Gordon_Brown" / "Gordon_Brown_0002.jpg", LFW / "Tom_Ridge" / "Tom_Ridge_0001.jpg"])
    _image_with_faces(wl / "Nobody" / "wall.jpg", [])
    res = cli("watchlist", "import", wl)
    assert res.exit_code == 2
    assert "enrolled Gordon_Brown: 1 new reference photo(s)" in res.stdout
    warnings = res.stderr.strip().splitlines()
    assert len(warnings) == 3 and all(w.startswith("warning: skipped ") for w in warnings)
    assert any("two.jpg: 2 faces found" in w for w in warnings)
    assert any("Nobody: no usable photo, not enrolled" in w for w in warnings)
    import json

    assert [r["name"] for r in json.loads(cli("watchlist", "list", "--json").stdout)] == ["Gordon_Brown"]
