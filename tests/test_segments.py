"""Long footage as a graph of work items, in-process: segments cut at key frames give the same
people as one pass (tracks split by a cut are stitched back), the quick pass alerts first and is
superseded, and the working copy is an H.264 <= 720p +faststart derivative of an untouched original."""

from __future__ import annotations

import hashlib
import json
import subprocess

import numpy as np
import pytest
from sqlalchemy import select

from evidence.audit import Actor
from evidence.db.tables import CandidateRow, Derivative, Evidence, FaceTrackRow, WorkItem
from evidence.work import analyse_evidence, ingest_clip
from evidence.runtime import Runtime
from evidence.settings import Settings
from evidence.watchlists import enrol, folder_enrolments
from pipeline.segments import Segment, TrackEnds, plan_segments, stitch_tracks
from pipeline.tracking import TrackerParams
from samples.make_samples import render_clip

ADMIN = Actor("test", "admin")


def test_plan_cuts_at_keyframes_and_leaves_no_short_tail():
    keys = [0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 14.0]
    assert plan_segments(keys, 15.0, 5.0) == [Segment(0, 0.0, 6.0), Segment(1, 6.0, 12.0), Segment(2, 12.0, None)]
    assert plan_segments(keys, 15.0, 60.0) == [Segment(0, 0.0, None)]
    assert plan_segments([], 15.0, 5.0) == [Segment(0, 0.0, None)]
    # Times are from the clip's start: a stream whose first key frame is at 1.4 s is shifted.
    assert plan_segments([1.4, 7.4, 13.4], 15.0, 5.0)[1] == Segment(1, 6.0, 12.0)


def _ends(key, seg, first, last, box_first, box_last, emb):
    return TrackEnds(key, seg, first, last, box_first, box_last, np.array([emb], np.float32))


def test_stitch_joins_the_same_face_across_a_cut_and_chains():
    p = TrackerParams()
    a, b = np.zeros(128), np.zeros(128)
    b[0] = 1.0  # another person
    segs = [Segment(0, 0.0, 6.0), Segment(1, 6.0, 12.0), Segment(2, 12.0, None)]
    tracks = [
        _ends(1, 0, 1.0, 5.5, (0, 0, 100, 100), (100, 0, 200, 100), a),      # crosses 6 s
        _ends(2, 1, 6.0, 11.5, (110, 0, 210, 100), (300, 0, 400, 100), a),   # ... and 12 s
        _ends(3, 2, 12.0, 13.0, (310, 0, 410, 100), (320, 0, 420, 100), a),
        _ends(4, 0, 2.0, 5.5, (600, 0, 700, 100), (600, 0, 700, 100), b),    # stays left of the cut
        _ends(5, 1, 9.0, 10.0, (600, 0, 700, 100), (600, 0, 700, 100), b),   # appears 3.5 s later: new
    ]
    assert stitch_tracks(tracks, segs, p) == {2: 1, 3: 1}
    # Near but not overlapping, and another person by embedding: not joined.
    far = [_ends(1, 0, 1.0, 5.5, (0, 0, 100, 100), (100, 0, 200, 100), a),
           _ends(2, 1, 6.0, 8.0, (180, 0, 280, 100), (180, 0, 280, 100), b)]
    assert stitch_tracks(far, segs, p) == {}


def _run(tmp_path, face_models, watchlist_dir, clip, **settings):
    rt = Runtime(Settings(data_dir=tmp_path, **settings))
    rt.faces = face_models
    enrol(rt, folder_enrolments(watchlist_dir), ADMIN)
    eid = ingest_clip(rt, clip, "INC-S", ADMIN)
    summary = analyse_evidence(rt, eid)
    with rt.sessions() as s:
        tracks = list(s.scalars(select(FaceTrackRow).where(FaceTrackRow.evidence_id == eid,
                                                           FaceTrackRow.segment >= 0)))
        cands = list(s.scalars(select(CandidateRow).where(CandidateRow.evidence_id == eid)))
        ev = s.get(Evidence, eid)
        items = list(s.scalars(select(WorkItem).where(WorkItem.evidence_id == eid)))
        return rt, ev, summary, tracks, [(c.subject.name, c.review_state) for c in cands], items


def test_segmented_analysis_finds_what_one_pass_finds(tmp_path, face_models, watchlist_dir, clips):
    _, _, one, tracks1, cands1, _ = _run(tmp_path / "a", face_models, watchlist_dir, clips["street"],
                                         segment_s=30, working_copy=False)
    _, ev, cut, tracks3, cands3, items = _run(tmp_path / "b", face_models, watchlist_dir, clips["street"],
                                              segment_s=2, working_copy=False)
    assert [i.kind for i in sorted(items, key=lambda i: i.index)].count("segment") == 3
    assert ev.provenance["tracks_stitched_across_cuts"] >= 2  # Vaclav Havel is on screen 0.5-5.5 s
    assert len(tracks3) == len(tracks1) == 3
    assert sorted((round(t.first_t_s, 1), round(t.last_t_s, 1)) for t in tracks3) == \
        sorted((round(t.first_t_s, 1), round(t.last_t_s, 1)) for t in tracks1)
    assert sorted(cands3) == sorted(cands1) == [("Gordon_Brown", "pending"), ("Kim_Clijsters", "pending")]
    assert abs(cut.frames - one.frames) <= 2


def test_quick_pass_alerts_first_and_is_superseded(tmp_path, face_models, watchlist_dir, clips):
    first = []
    rt = Runtime(Settings(data_dir=tmp_path, quick_pass_min_s=0, working_copy=False))
    rt.faces = face_models
    enrol(rt, folder_enrolments(watchlist_dir), ADMIN)
    eid = ingest_clip(rt, clips["street"], "INC-Q", ADMIN)

    def alert(c):
        with rt.sessions() as s:
            first.append(s.get(FaceTrackRow, c.track_id).segment)

    analyse_evidence(rt, eid, on_candidate=alert)
    assert first[0] == -1  # the first alert came from the quick pass
    with rt.sessions() as s:
        quick = s.get(Evidence, eid).provenance["quick_pass"]
        states = {(c.subject.name, c.track.segment, c.review_state) for c in
                  s.scalars(select(CandidateRow).where(CandidateRow.evidence_id == eid))}
    assert quick["looked_at"] >= 2 and quick["people"] >= 2
    assert {(n, st) for n, seg, st in states if seg == -1} <= {("Gordon_Brown", "superseded"),
                                                              ("Kim_Clijsters", "superseded")}
    assert {(n, st) for n, seg, st in states if seg >= 0} == {("Gordon_Brown", "pending"),
                                                             ("Kim_Clijsters", "pending")}


def _probe(path):
    out = subprocess.run(["ffprobe", "-v", "error", "-print_format", "json", "-show_streams", "-show_format",
                          str(path)], capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def _atoms(path):
    data, pos, order = path.read_bytes(), 0, []
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos:pos + 4], "big")
        order.append(data[pos + 4:pos + 8].decode("latin-1"))
        if size < 8:
            break
        pos += size
    return order


@pytest.mark.parametrize("kind", ["remux", "re-encode"])
def test_working_copy_is_h264_720p_faststart_and_the_original_is_untouched(tmp_path, face_models, clips, kind):
    clip = clips["street"] if kind == "remux" else render_clip(tmp_path / "hd.mp4", [], 2.0, size_wh=(1920, 1080))
    before = hashlib.sha256(clip.read_bytes()).hexdigest()
    rt = Runtime(Settings(data_dir=tmp_path / "data"))
    rt.faces = face_models
    eid = ingest_clip(rt, clip, "INC-W", ADMIN)
    analyse_evidence(rt, eid)
    with rt.sessions() as s:
        ev = s.get(Evidence, eid)
        copy = s.scalar(select(Derivative).where(Derivative.evidence_id == eid, Derivative.kind == "working_copy"))
        sheet = s.scalar(select(Derivative).where(Derivative.evidence_id == eid, Derivative.kind == "contact_sheet"))
        original = rt.store.absolute(ev.store_path)
    assert copy.parent_sha256 == sheet.parent_sha256 == ev.sha256 == before
    assert hashlib.sha256(original.read_bytes()).hexdigest() == before == hashlib.sha256(clip.read_bytes()).hexdigest()
    path = rt.store.absolute(copy.store_path)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == copy.sha256
    video = next(st for st in _probe(path)["streams"] if st["codec_type"] == "video")
    assert video["codec_name"] == "h264" and (video["width"], video["height"]) == (1280, 720)
    atoms = _atoms(path)
    assert atoms.index("moov") < atoms.index("mdat")  # +faststart: playable while downloading
    assert copy.made_by["method"] == ("remux" if kind == "remux" else "h264 re-encode")
    assert _probe(rt.store.absolute(sheet.store_path))["streams"][0]["codec_name"] == "mjpeg"
    assert ev.provenance["working_copy"]["working_copy"] == copy.sha256
