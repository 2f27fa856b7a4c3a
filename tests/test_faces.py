"""Face stages on real frames with the real dlib models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from evidence.images import read_rgb
from evidence.mediaio import iter_frames, probe_media
from evidence.ordered import ordered_map
from models.registry import manifest, model_path
from pipeline.errors import InvalidReference
from pipeline.faces import detect_faces, detection_scale, embed_reference

LFW = Path(__file__).resolve().parent.parent / "samples" / "faces"


def test_every_model_file_matches_its_manifest_hash():
    for name, entry in manifest().items():
        assert entry.licence and entry.source
        if entry.file:
            import hashlib

            assert hashlib.sha256(model_path(name).read_bytes()).hexdigest() == entry.sha256


def test_parallel_detection_gives_exactly_the_serial_result(clips, face_models):
    path = clips["street"]
    info = probe_media(path)
    frames = list(iter_frames(path, info, 2.0))
    m = face_models

    def detect(frame):
        return [(d.xyxy, d.score, d.landmarks_xy.tobytes()) for d in
                detect_faces(frame, m.detector, m.aligner, detection_scale(80, m.detector.min_face_px), 80)]

    serial = [detect(f) for f in frames]
    assert sum(map(len, serial)) > 10
    for _ in range(2):
        assert list(ordered_map(detect, frames, workers=2)) == serial


def test_many_threads_share_a_few_model_objects(clips):
    """A web server's 40 threads must not each build a detector and landmark model (memory never
    given back): objects are lent from a pool no bigger than the peak use allowed."""
    from concurrent.futures import ThreadPoolExecutor

    from models.dlib_faces import DlibAligner, DlibHogDetector

    detector, aligner = DlibHogDetector(max_in_use=2), DlibAligner(max_in_use=2)
    frames = list(iter_frames(clips["street"], probe_media(clips["street"]), 2.0))[:6]

    def detect(frame):
        return [(d.xyxy, d.landmarks_xy.tobytes()) for d in detect_faces(frame, detector, aligner,
                                                                          detection_scale(80, detector.min_face_px), 80)]

    serial = [detect(f) for f in frames]
    with ThreadPoolExecutor(24) as pool:
        assert list(pool.map(detect, frames * 4)) == serial * 4
    assert detector._made <= 2 and aligner._made <= 2


def test_frames_are_upright_and_sampled_at_the_rate(clips):
    info = probe_media(clips["phone"])
    assert info.size_wh == (1280, 720) and info.display_wh == (720, 1280)
    frames = list(iter_frames(clips["phone"], info, 2.0))
    assert len(frames) == 8 and frames[0].image.shape == (1280, 720, 3)
    assert [f.t_s for f in frames[:3]] == [0.0, 0.5, 1.0]


def test_same_person_embeds_closer_than_strangers(face_models):
    m = face_models

    def emb(name, i):
        return embed_reference(read_rgb(LFW / name / f"{name}_{i:04d}.jpg"), m.reference_detector, m.aligner,
                               m.embedder, name)

    a1, a2, b = emb("Gordon_Brown", 1), emb("Gordon_Brown", 2), emb("Tom_Ridge", 1)
    assert a1.shape == (128,) and a1.dtype == np.float32
    assert np.linalg.norm(a1 - a2) < 0.5 < np.linalg.norm(a1 - b)


def test_reference_with_no_face(face_models):
    m = face_models
    with pytest.raises(InvalidReference, match="no face found"):
        embed_reference(np.full((300, 300, 3), 128, np.uint8), m.reference_detector, m.aligner, m.embedder, "grey")
