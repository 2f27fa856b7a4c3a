"""dlib implementations of the face roles in ``pipeline.faces``. Each loads its model lazily from
the path the manifest verifies; nothing is loaded at import.

dlib's detector and shape predictor give wrong, varying results when one object is used from two
threads at once (measured: 56 vs 57-60 detections on the same frames), so every thread that uses
them gets its own (cheap) model object. The embedder's 22 MB network is loaded once and used under
a lock, so it can be loaded in the background while a clip is hashed and probed."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import numpy.typing as npt

from models.registry import model_path
from pipeline.types import Box, Embedding, RGBImage

__all__ = ["DlibAligner", "DlibEmbedder", "DlibHogDetector", "FACE_MODEL_NAMES"]

FACE_MODEL_NAMES = ["dlib_hog_frontal_face", "shape_predictor_5_face_landmarks",
                    "dlib_face_recognition_resnet_model_v1"]


class _Lazy:
    def __init__(self) -> None:
        self._local = threading.local()

    def _build(self) -> Any:
        raise NotImplementedError

    @property
    def model(self) -> Any:
        model = getattr(self._local, "model", None)
        if model is None:
            model = self._local.model = self._build()
        return model


class DlibHogDetector(_Lazy):
    """dlib's HOG face detector. ``upsample`` doubles the image that many times first (finds
    smaller faces, ~4x the cost each); ``adjust_threshold`` shifts the SVM threshold; with
    ``grayscale`` it runs on luminance: 21 % faster than on RGB, same recall on small faces in
    1080p (benchmarks/face_detection.py)."""

    def __init__(self, upsample: int = 0, adjust_threshold: float = 0.0, grayscale: bool = True) -> None:
        super().__init__()
        self.upsample, self.adjust_threshold, self.grayscale = upsample, adjust_threshold, grayscale

    def _build(self) -> Any:
        import dlib

        return dlib.get_frontal_face_detector()

    def detect(self, image: RGBImage) -> list[tuple[Box, float]]:
        if self.grayscale:
            import cv2

            image = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        rects, scores, _ = self.model.run(image, self.upsample, self.adjust_threshold)
        return [((float(r.left()), float(r.top()), float(r.right()), float(r.bottom())), float(s))
                for r, s in zip(rects, scores, strict=True)]


class DlibAligner(_Lazy):
    def _build(self) -> Any:
        import dlib

        return dlib.shape_predictor(str(model_path("shape_predictor_5_face_landmarks")))

    def landmarks(self, image: RGBImage, box: Box) -> npt.NDArray[np.float32]:
        import dlib

        rect = dlib.rectangle(*(int(round(v)) for v in box))
        shape = self.model(image, rect)
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)


class DlibEmbedder:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._model: Any = None

    @property
    def model(self) -> Any:
        with self._lock:
            if self._model is None:
                import dlib

                self._model = dlib.face_recognition_model_v1(str(model_path("dlib_face_recognition_resnet_model_v1")))
            return self._model

    def embed(self, image: RGBImage, landmarks_xy: npt.NDArray[np.float32]) -> Embedding:
        import dlib

        x0, y0 = landmarks_xy.min(axis=0)
        x1, y1 = landmarks_xy.max(axis=0)
        rect = dlib.rectangle(int(x0), int(y0), int(x1) + 1, int(y1) + 1)
        shape = dlib.full_object_detection(rect, [dlib.point(int(round(x)), int(round(y))) for x, y in landmarks_xy])
        model = self.model
        with self._lock:
            return np.asarray(model.compute_face_descriptor(np.ascontiguousarray(image), shape), dtype=np.float32)
