"""Faces as a phone films them at dusk: small (48-72 px), dark, grainy, smeared by motion, two
people turned 45-50 degrees away, the clip stored on its side with a 90-degree rotation tag, at
30 fps. At the default settings every person is found as a face track; no one is matched who is
not on the watchlist (or as someone else); a disclosure copy blurs every one of them, so that neither detector (the
footage's CenterFace nor dlib's HOG, frontal, one upsample) finds a face in it."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import select

from conftest import frame_at
from evidence.db.tables import FaceTrackRow
from evidence.runtime import Runtime
from evidence.settings import Settings
from samples.make_samples import DEMO_WATCHLIST, build_watchlist, dusk_people, render_clip

PEOPLE = dusk_people()
SECONDS = 15.0


@pytest.fixture(scope="module")
def dusk(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("dusk")
    clip = render_clip(d / "dusk.mp4", PEOPLE, SECONDS, size_wh=(1080, 1920), rotate_90=True, seed=7, fps=30,
                       dusk=True)
    return clip, build_watchlist(d / "wl", DEMO_WATCHLIST)


def _person_at(t_s: float, box: list[float]):
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    near = [(abs(x - cx) + abs(y - cy), p) for p in PEOPLE if p.t_in_s <= t_s < p.t_out_s
            for x, y in [p.centre_at(t_s, (1080, 1920))]]
    best = min(near, key=lambda d: d[0], default=None)
    return best[1] if best is not None and best[0] < 80 else None


def test_dusk_phone_clip_every_person_tracked_no_stranger_matched(cli, env, dusk, tmp_path):
    clip, wl = dusk
    res = cli("process", clip, "--watchlist", wl, "--incident", "INC-DUSK", "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    rt = Runtime(Settings())
    with rt.sessions() as s:
        tracks = list(s.scalars(select(FaceTrackRow)))
    found = {p.name for t in tracks if (p := _person_at(t.best_t_s, t.best_xyxy)) is not None}
    assert found == {p.name for p in PEOPLE}  # the turned bystanders and the 48 px faces too
    assert all(_person_at(t.best_t_s, t.best_xyxy) is not None for t in tracks)  # nothing else
    watched = {p.name for p in PEOPLE if p.on_watchlist}
    by_track = {t.track_index: t for t in tracks}
    for c in out["candidates"]:
        person = _person_at(by_track[c["track"]].best_t_s, by_track[c["track"]].best_xyxy)
        assert c["subject"] in watched and person is not None and person.name == c["subject"]
    # Not asserted: that each watchlist person is matched. At this light and size the embedder
    # puts them 0.52-0.59 from their references against a derived threshold of 0.475 (15 photos,
    # FPIR 0.5 %): found, but not matched (docs/known-limits.md).

    # The disclosure copy blurs every face, the turned and the small ones included.
    res = cli("export", "INC-DUSK", "--out", tmp_path / "red.zip", "--reason", "disclosure", "--redact")
    assert res.exit_code == 0, res.output
    with zipfile.ZipFile(tmp_path / "red.zip") as zf:
        files = json.loads(zf.read("files.json"))
        red = next(f for f in files if f["role"] == "redacted_copy")
        (tmp_path / "red.mp4").write_bytes(zf.read(red["path"]))
        working = next(f for f in files if f["role"] == "working_copy")
        (tmp_path / "working.mp4").write_bytes(zf.read(working["path"]))
    m = cli.face_models
    for t_s in (2.0, 5.0, 7.0, 10.0, 13.0):
        before = frame_at(tmp_path / "working.mp4", t_s)
        after = frame_at(tmp_path / "red.mp4", t_s)
        assert m.detector.detect(before), f"{t_s} s: no face in the working copy to blur"
        assert m.detector.detect(after) == [] and m.reference_detector.detect(after) == [], f"a face left at {t_s} s"
