"""Face stages: the model roles, detection on a frame, quality, and reference enrolment.

Models are passed in (see ``models.dlib_faces`` for the dlib implementations)."""

from __future__ import annotations

from typing import Protocol

import cv2
import numpy as np
import numpy.typing as npt

from pipeline.boxes import overlap_of_smaller
from pipeline.errors import InvalidReference
from pipeline.types import Box, Embedding, FaceDetection, FaceSample, Frame, RGBImage

__all__ = [
    "FaceAligner",
    "FaceDetector",
    "FaceEmbedder",
    "detect_faces",
    "detect_faces_near",
    "detection_scale",
    "embed_reference",
    "embed_sample",
    "face_quality",
    "sample_face",
]

class FaceDetector(Protocol):
    """Find faces: RGB uint8 (H, W, 3) in, [(xyxy, score)] in that image's pixels out.

    ``min_face_px``: the smallest face width it finds reliably in the image it is given (frames
    are scaled down so the smallest face wanted is that wide); ``alignment_box``: the box the
    aligner is given for a face it found (the aligner's own detector's shape)."""

    min_face_px: float

    def detect(self, image: RGBImage) -> list[tuple[Box, float]]: ...

    def alignment_box(self, box: Box) -> Box: ...

    def record(self) -> dict[str, object]:
        """What a result made with this detector records of it (its name and settings)."""
        ...


class FaceAligner(Protocol):
    """Five landmarks (dlib order: eye corners, nose base) of the face in ``box``, (5, 2) float32."""

    def landmarks(self, image: RGBImage, box: Box) -> npt.NDArray[np.float32]: ...


class FaceEmbedder(Protocol):
    """The embedding (float32, the model's dimension; compared by Euclidean distance: a cosine model's
    vectors are of unit length) of the face with the given 5 landmarks in ``image``."""

    def embed(self, image: RGBImage, landmarks_xy: npt.NDArray[np.float32]) -> Embedding: ...


def detection_scale(min_face_px: float, detector_min_px: float) -> float:
    """Scale to run a detector that finds faces from ``detector_min_px`` at, so faces of
    ``min_face_px`` in the frame are still found (at most 1)."""
    return float(min(1.0, detector_min_px / max(1.0, min_face_px)))


def _landmarks(image: RGBImage, box: Box, detector: FaceDetector, aligner: FaceAligner) -> npt.NDArray[np.float32]:
    return aligner.landmarks(image, detector.alignment_box(box))


def _sharpness(gray: npt.NDArray[np.uint8]) -> float:
    small = cv2.resize(gray, (64, 64), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(small, cv2.CV_64F).var())


def face_quality(image: RGBImage, xyxy: Box, landmarks_xy: npt.NDArray[np.float32], score: float) -> float:
    """A [0, 1] usefulness score for recognition: size (full at 160 px), sharpness (variance of the
    Laplacian at 64x64), frontality (nose centred between the eyes) and detector confidence."""
    x0, y0, x1, y1 = (int(round(v)) for v in xyxy)
    h, w = image.shape[:2]
    crop = image[max(0, y0) : min(h, y1), max(0, x0) : min(w, x1)]
    if crop.size == 0:
        return 0.0
    size_q = np.clip(((x1 - x0) - 40.0) / 120.0, 0.0, 1.0)
    gray: npt.NDArray[np.uint8] = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY).astype(np.uint8, copy=False)
    sharp_q = np.clip(_sharpness(gray) / 400.0, 0.0, 1.0)
    eye_a, eye_b = landmarks_xy[0:2].mean(axis=0), landmarks_xy[2:4].mean(axis=0)
    eye_dist = float(np.linalg.norm(eye_a - eye_b)) or 1.0
    asym = abs(float(landmarks_xy[4, 0]) - float((eye_a[0] + eye_b[0]) / 2)) / eye_dist
    frontal_q = np.clip(1.0 - 2.0 * asym, 0.0, 1.0)
    det_q = np.clip(score / 2.0, 0.0, 1.0)
    return float(0.35 * size_q + 0.25 * sharp_q + 0.25 * frontal_q + 0.15 * det_q)


def detect_faces(
    frame: Frame,
    detector: FaceDetector,
    aligner: FaceAligner,
    scale: float,
    min_face_px: float,
) -> list[FaceDetection]:
    """Detect faces on a copy of the frame resized by ``scale``; boxes, landmarks and quality are
    given in full-frame pixels. Faces narrower than ``min_face_px`` are dropped."""
    image = frame.image
    small: RGBImage = image if scale >= 1.0 else np.asarray(
        cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA), dtype=np.uint8)
    found: list[FaceDetection] = []
    for (x0, y0, x1, y1), score in detector.detect(small):
        box: Box = (x0 / scale, y0 / scale, x1 / scale, y1 / scale)
        if box[2] - box[0] < min_face_px:
            continue
        marks = _landmarks(image, box, detector, aligner)
        found.append(FaceDetection(frame.t_s, frame.index, box, float(score), marks,
                                   face_quality(image, box, marks, float(score))))
    return found


def detect_faces_near(
    frame: Frame,
    boxes: list[Box],
    detector: FaceDetector,
    aligner: FaceAligner,
    min_face_px: float,
    face_px_at_detection: float | None = None,
) -> list[FaceDetection]:
    """Look for faces only around ``boxes`` (where tracked faces are predicted to be): each region
    is the box grown by its width on every side, scaled so the face is ~``face_px_at_detection``
    wide (by default 1.5 times the smallest face the detector finds, at least 40 px). A fraction of the cost of a full-frame pass; overlapping finds are merged."""
    image = frame.image
    h, w = image.shape[:2]
    found: list[FaceDetection] = []
    face_px = face_px_at_detection or max(40.0, 1.5 * detector.min_face_px)
    for x0, y0, x1, y1 in boxes:
        bw = x1 - x0
        rx0, ry0 = max(0, int(x0 - bw)), max(0, int(y0 - bw))
        rx1, ry1 = min(w, int(x1 + bw)), min(h, int(y1 + bw))
        if rx1 - rx0 < 16 or ry1 - ry0 < 16:
            continue
        scale = min(1.0, face_px / max(bw, 1.0))
        region = image[ry0:ry1, rx0:rx1]
        small = region if scale >= 1.0 else cv2.resize(region, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        for (a0, b0, a1, b1), score in detector.detect(np.ascontiguousarray(small)):
            box: Box = (rx0 + a0 / scale, ry0 + b0 / scale, rx0 + a1 / scale, ry0 + b1 / scale)
            if box[2] - box[0] < min_face_px or any(overlap_of_smaller(box, f.xyxy) > 0.5 for f in found):
                continue
            marks = _landmarks(image, box, detector, aligner)
            found.append(FaceDetection(frame.t_s, frame.index, box, float(score), marks,
                                       face_quality(image, box, marks, float(score))))
    return found


def sample_face(frame: Frame, detection: FaceDetection, margin: float = 0.6) -> FaceSample:
    """Copy the face region (box grown by ``margin`` of its size on each side) out of the frame."""
    x0, y0, x1, y1 = detection.xyxy
    mw, mh = (x1 - x0) * margin, (y1 - y0) * margin
    h, w = frame.image.shape[:2]
    cx0, cy0 = max(0, int(x0 - mw)), max(0, int(y0 - mh))
    cx1, cy1 = min(w, int(x1 + mw)), min(h, int(y1 + mh))
    return FaceSample(detection, frame.image[cy0:cy1, cx0:cx1].copy(), (cx0, cy0))


def embed_sample(sample: FaceSample, embedder: FaceEmbedder) -> Embedding:
    return embedder.embed(sample.crop, sample.crop_landmarks_xy)


def embed_reference(
    image: RGBImage, detector: FaceDetector, aligner: FaceAligner, embedder: FaceEmbedder, name: str
) -> Embedding:
    """Embed the single face of a watchlist reference photo; InvalidReference if not exactly one."""
    faces = detector.detect(image)
    if not faces:
        raise InvalidReference(f"{name}: no face found")
    if len(faces) > 1:
        raise InvalidReference(f"{name}: {len(faces)} faces found; a reference photo must show one person")
    box, _ = faces[0]
    return embedder.embed(image, _landmarks(image, box, detector, aligner))
