"""Disclosure copies: the working copy with every face blurred except those of confirmed subjects
(and, on request, every number plate), stored as a new derivative that records its parent's hash,
the detectors and the settings. Faces are found afresh on every ``1 / DETECT_FPS`` s of video (not
only where tracks were kept), and a face is left visible only when it is measured within the
confirmed candidate's own threshold of that confirmed track. A detector misses some faces (turned
away, very small): a person must check a disclosure copy before it leaves the building."""

from __future__ import annotations

import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from sqlalchemy import select

from evidence import SOFTWARE
from evidence.audit import Actor, append_audit
from evidence.faceindex import embedding_rows
from evidence.db.tables import CandidateRow, Derivative, Evidence
from evidence.derivatives import record_derivative
from evidence.errors import ModelMismatch
from evidence.export import Redactor
from evidence.mediaio import iter_frames, probe_media
from evidence.runtime import Runtime
from evidence.states import ReviewState
from models.centerface import CenterFaceDetector
from pipeline.errors import InvalidMedia
from pipeline.faces import FaceDetector
from pipeline.media import redacted_copy_args
from pipeline.ocr import merge_lines
from pipeline.platereading import PlateParams, plate_shaped
from pipeline.redact import blur_regions, boxes_between
from pipeline.types import Box, MediaInfo, RGBImage
from pipeline.watchlist import track_distance

__all__ = ["redactor_for"]

DETECT_FPS = 5.0
# CenterFace's score for a face to blur (analysis keeps 0.5 and up), and how far the copy is enlarged
# for it: only when the smallest face analysed in the original (``min_face_px``), shrunk with the copy,
# would be under SMALLEST_AT times the detector's reliable minimum. Measured (benchmarks/face_detection.py
# --redaction, RESULTS.md "Issue 30"): on the working copies of the dusk clip (190 faces on the detection
# frames) and of the street frames (faces of 40-100 px in 1080p, and turned 45-60 degrees; 84 faces), at
# the copy's own scale a score of 0.35 missed 2 dusk faces, 0.25 one, 0.15 none, and none of them put a
# box on anything else; the copy at both 1x and 1.5x (0.35) also missed none, at three times the cost.
REDACT_MIN_SCORE = 0.15
SMALLEST_AT = 1.25


class _Faces:
    """Which faces in a frame to blur: all but a confirmed subject's."""

    def __init__(self, rt: Runtime, keep: list[tuple[np.ndarray, float]], upscale: float = 1.0) -> None:
        self.m, self.keep, self.upscale = rt.faces, keep, upscale
        # Blurring a face too many costs nothing; missing one discloses it: CenterFace (which found the
        # most turned and dark faces, benchmarks/face_detection.py --dusk) at a lower score than
        # analysis, whichever detector found the footage's faces.
        self.detector: FaceDetector = CenterFaceDetector(rt.settings.onnx_threads, threshold=REDACT_MIN_SCORE)

    def _found(self, image: RGBImage) -> list[Box]:
        """Faces in the frame, searched at ``upscale`` times its size (boxes in its own pixels)."""
        k = self.upscale
        if k <= 1.0:
            return [box for box, _ in self.detector.detect(image)]
        seen = np.asarray(cv2.resize(image, None, fx=k, fy=k, interpolation=cv2.INTER_LINEAR), dtype=np.uint8)
        return [(x0 / k, y0 / k, x1 / k, y1 / k) for (x0, y0, x1, y1), _ in self.detector.detect(seen)]

    def boxes(self, image: RGBImage) -> list[Box]:
        out = []
        for box in self._found(image):
            if self.keep:
                marks = self.m.aligner.landmarks(image, self.detector.alignment_box(box))
                emb = self.m.embedder.embed(image, marks).reshape(1, -1)
                if any(track_distance(emb, refs) <= t for refs, t in self.keep):
                    continue
            out.append(box)
        return out


def _upscale(rt: Runtime, src: Path, ev: Evidence) -> float:
    """How much to enlarge the copy's frames for the detector: so that the smallest face analysed in
    the original (``min_face_px``), shrunk with the copy (at most 720p), is at least SMALLEST_AT
    times the smallest the detector finds reliably (up to 2x; a 4K original's 40 px face is 13 px
    in its 720p copy)."""
    copy_side = max(probe_media(src).display_wh)
    original_side = max(MediaInfo.from_record(ev.media).display_wh) or copy_side
    smallest = rt.settings.min_face_px * copy_side / original_side
    return float(min(2.0, max(1.0, SMALLEST_AT * CenterFaceDetector.min_face_px / smallest)))


def _confirmed(rt: Runtime, evidence_id: int) -> tuple[list[tuple[np.ndarray, float]], list[dict[str, Any]]]:
    with rt.sessions() as s:
        rows = list(s.scalars(select(CandidateRow).where(CandidateRow.evidence_id == evidence_id,
                                                         CandidateRow.review_state == ReviewState.CONFIRMED)))
        embedder = rt.faces.profile
        others = {c.track.embedder for c in rows} - {embedder.name}
        if others:  # who to leave unblurred is decided on their vectors: never another model's
            raise ModelMismatch(f"the confirmed faces of evidence {evidence_id} were embedded by "
                                f"{', '.join(sorted(others))}, this process by {embedder.name}: {ModelMismatch.REMEDY}")
        # A candidate raised by an earlier embedder (its track re-made by `evidence models reembed`)
        # keeps the threshold of that model's scale: this one's strictest is used instead.
        keep = [(embedding_rows(c.track.embeddings, embedder.dimension),
                 c.threshold if c.model_version == embedder.provenance else embedder.watchlist_bounds[0])
                for c in rows]
        record = [{"candidate_id": c.id, "subject": c.subject.name, "track_id": c.track_id,
                   "threshold": c.threshold} for c in rows]
    return keep, record


def _redact_video(rt: Runtime, src: Path, dst: Path, faces: _Faces, plates: bool,
                  on_frames: Callable[[float], None] | None = None) -> dict[str, Any]:
    info = probe_media(src)
    frames = max(1.0, info.duration_s * info.fps)
    stride = max(1, round(info.fps / DETECT_FPS))
    params = PlateParams()
    enc = subprocess.Popen(redacted_copy_args(str(src), str(dst), info.display_wh, info.fps),
                           stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    assert enc.stdin is not None
    detected: dict[int, list[Box]] = {}
    held: list[tuple[int, RGBImage]] = []
    blurred = 0

    def flush(upto: int) -> None:
        nonlocal blurred
        assert enc.stdin is not None
        while held and held[0][0] <= upto:
            k, image = held.pop(0)
            boxes = boxes_between(k, stride, detected)
            blurred += len(boxes) > 0
            enc.stdin.write(blur_regions(image, boxes).tobytes())

    def find_plates(image: RGBImage) -> list[Box]:
        return [b.xyxy for b in merge_lines(rt.plates.detector.detect(image)) if plate_shaped(b, image.shape[0], params)]

    pool = ThreadPoolExecutor(1)
    try:
        for frame in iter_frames(src, info, None):
            held.append((frame.index, frame.image))
            if frame.index % stride == 0:
                # The plate detector (onnxruntime, GIL released) runs beside the face detector.
                plate_boxes = pool.submit(find_plates, frame.image) if plates else None
                boxes = faces.boxes(frame.image)
                detected[frame.index] = boxes + (plate_boxes.result() if plate_boxes else [])
                flush(frame.index)
                for done_k in [k for k in detected if k < frame.index]:
                    del detected[done_k]
                if on_frames:
                    on_frames(min(1.0, frame.index / frames))
        flush(held[-1][0] if held else 0)
        enc.stdin.close()
        err = enc.stderr.read().decode(errors="replace") if enc.stderr else ""
        if enc.wait() != 0:
            raise InvalidMedia(f"{src.name}: encoding the redacted copy failed ({err.strip()[-300:]})")
    finally:
        pool.shutdown()
        if enc.poll() is None:
            enc.kill()
            enc.wait()
    return {"detect_every_frames": stride, "frames_with_blur": blurred, "fps": info.fps}


def redactor_for(rt: Runtime, actor: Actor, plates: bool = False,
                 on_frames: Callable[[float], None] | None = None) -> Redactor:
    """A redactor for ``export_incident``: per evidence, its disclosure copy (a stored derivative);
    ``on_frames`` hears how far through each video it is (0 to 1)."""

    def redact(ev: Evidence, workdir: Path) -> Iterator[tuple[str, Path, Derivative]]:
        with rt.sessions() as s:
            parent = s.scalar(select(Derivative).where(Derivative.evidence_id == ev.id,
                                                       Derivative.kind == "working_copy").order_by(Derivative.id.desc()))
        src = rt.store.absolute(parent.store_path) if parent else rt.store.absolute(ev.store_path)
        parent_sha = parent.sha256 if parent else ev.sha256
        keep, kept_record = _confirmed(rt, ev.id)
        with tempfile.TemporaryDirectory(dir=workdir) as tmp:
            out = Path(tmp) / "redacted.mp4"
            upscale = _upscale(rt, src, ev)
            done = _redact_video(rt, src, out, _Faces(rt, keep, upscale), plates, on_frames)
            stored = rt.store.put_file(out, "derivatives", ".mp4")
        made_by = {"software": SOFTWARE, "from": "working_copy" if parent else "original",
                   "faces": {"detector": f"CenterFace, {DETECT_FPS:g} frames a second",
                             "scale": round(upscale, 3), "min_score": REDACT_MIN_SCORE,
                             "models": rt.faces.versions,
                             "visible_confirmed_subjects": kept_record},
                   "plates": {"models": rt.plates.versions} if plates else None, "blur": "pixelate 8 + gaussian",
                   **done}
        with rt.sessions.begin() as s:
            row = record_derivative(s, ev.id, parent_sha, "redacted_copy", stored.sha256,
                                    rt.store.relative(stored.path), made_by)
            append_audit(s, actor, "evidence.redact", f"evidence:{ev.id}",
                         detail={"derivative_id": row.id, "sha256": stored.sha256, "parent_sha256": parent_sha,
                                 "plates": plates, "visible_subjects": [k["subject"] for k in kept_record]})
        yield "redacted_copy", stored.path, row

    return redact
