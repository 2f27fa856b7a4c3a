"""YuNet (OpenCV Zoo, 2023-03, MIT), a selectable footage face detector (profile ``yunet``): the
ONNX file in ``models/faces/``, run through OpenCV's ``cv2.FaceDetectorYN`` (OpenCV >= 4.8), which
takes any input size. It returns boxes, five landmarks (eye centres, nose tip, mouth corners) and
a score; the landmarks dlib's embedder needs come from dlib's shape predictor, given the HOG-shaped
box ``alignment_box`` derives from YuNet's (fitted like CenterFace's on LFW photos found by both,
benchmarks/face_detection.py).

OpenCV's DNN objects are not for two threads at once: each call borrows one from a small pool."""

from __future__ import annotations

from typing import Any

import numpy as np

from models.pool import Pooled
from models.registry import Catalogue, ModelEntry, catalogue
from pipeline.boxes import square_around
from pipeline.types import Box, RGBImage

__all__ = ["YuNetDetector"]

# HOG's box from YuNet's: side in YuNet widths, centre offset in YuNet widths / heights
# (benchmarks/face_detection.py --fit-alignment, LFW photos found by both).
_HOG_SIDE, _HOG_DX, _HOG_DY = 1.115, 0.027, 0.060


class YuNetDetector(Pooled):
    """A ``pipeline.faces.FaceDetector``: face boxes with YuNet's score (``threshold`` and above)."""

    min_face_px = 16.0  # smallest face width found reliably in the image given (face_detection.py)

    def __init__(self, threshold: float = 0.6, nms_iou: float = 0.3, max_in_use: int | None = None,
                 entry: ModelEntry | None = None) -> None:
        super().__init__(max_in_use)
        self.threshold, self.nms_iou = threshold, nms_iou
        self.entry = entry or catalogue().get("yunet")

    @classmethod
    def from_entry(cls, entry: ModelEntry, _: Catalogue, threads: int) -> YuNetDetector:
        return cls(entry=entry)

    def _build(self) -> Any:
        import cv2

        return cv2.FaceDetectorYN.create(str(self.entry.path()), "", (320, 320), self.threshold, self.nms_iou, 5000)

    def detect(self, image: RGBImage) -> list[tuple[Box, float]]:
        h, w = image.shape[:2]
        bgr = np.ascontiguousarray(image[..., ::-1])
        with self.borrowed() as net:
            net.setInputSize((w, h))
            _, faces = net.detect(bgr)
        if faces is None:
            return []
        out: list[tuple[Box, float]] = []
        for f in faces:
            x, y, bw, bh = (float(v) for v in f[:4])
            out.append(((max(0.0, x), max(0.0, y), min(float(w), x + bw), min(float(h), y + bh)), float(f[14])))
        return sorted(out, key=lambda b: -b[1])

    @staticmethod
    def alignment_box(box: Box) -> Box:
        """The HOG-shaped box dlib's shape predictor expects for the face in ``box``."""
        return square_around(box, _HOG_SIDE, _HOG_DX, _HOG_DY)

    def record(self) -> dict[str, object]:
        return {"name": self.entry.name, "score_threshold": self.threshold, "nms_iou": self.nms_iou,
                "alignment_box": {"side_widths": _HOG_SIDE, "dx_widths": _HOG_DX, "dy_heights": _HOG_DY}}
