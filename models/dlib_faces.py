"""dlib implementations of the face roles in ``pipeline.faces``. Each loads its model lazily from
the path the manifest verifies; nothing is loaded at import.

dlib's detector and shape predictor give wrong, varying results when one object is used from two
threads at once (measured: 56 vs 57-60 detections on the same frames), so each use borrows an
object of its own from a small pool: as many exist as were ever in use at the same time, at most
``max_in_use`` (further callers wait). Objects per *thread* would grow with every thread that ever
ran a search (a web server's thread pool has 40): 265 MB after 300 face searches, never given
back (benchmarks/soak.py). The embedder's 22 MB network is loaded once and used under a lock, so it
can be loaded in the background while a clip is hashed and probed."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import numpy.typing as npt

from models.registry import model_path
from pipeline.types import Box, Embedding, RGBImage

__all__ = ["DlibAligner", "DlibEmbedder", "DlibHogDetector", "FACE_MODEL_NAMES"]

FACE_MODEL_NAMES = ["dlib_hog_frontal_face", "shape_predictor_5_face_landmarks",
                    "dlib_face_recognition_resnet_model_v1"]


class _Pooled:
    """Model objects lent one caller at a time; made on demand, at most ``max_in_use``."""

    def __init__(self, max_in_use: int | None = None) -> None:
        self.max_in_use = max_in_use or max(2, os.cpu_count() or 2)
        self._free: list[Any] = []
        self._made = 0
        self._ready = threading.Condition()

    def _build(self) -> Any:
        raise NotImplementedError

    @contextmanager
    def borrowed(self) -> Iterator[Any]:
        with self._ready:
            while not self._free and self._made >= self.max_in_use:
                self._ready.wait()
            model = self._free.pop() if self._free else None
            if model is None:
                self._made += 1
        if model is None:
            try:
                model = self._build()
            except BaseException:
                with self._ready:
                    self._made -= 1
                    self._ready.notify()
                raise
        try:
            yield model
        finally:
            with self._ready:
                self._free.append(model)
                self._ready.notify()

    def load(self) -> None:
        """Make one now (a worker does it before it forks)."""
        with self.borrowed():
            pass


class DlibHogDetector(_Pooled):
    """dlib's HOG face detector. ``upsample`` doubles the image that many times first (finds
    smaller faces, ~4x the cost each); ``adjust_threshold`` shifts the SVM threshold; with
    ``grayscale`` it runs on luminance: 21 % faster than on RGB, same recall on small faces in
    1080p (benchmarks/face_detection.py)."""

    # Finds faces down to roughly this width (pixels) in the image it is given (each upsample
    # halves it); measured on LFW faces composited into 1080p frames (benchmarks/face_detection.py).
    min_face_px = 54.0

    def __init__(self, upsample: int = 0, adjust_threshold: float = 0.0, grayscale: bool = True,
                 max_in_use: int | None = None) -> None:
        super().__init__(max_in_use)
        self.upsample, self.adjust_threshold, self.grayscale = upsample, adjust_threshold, grayscale
        self.min_face_px = 54.0 / 2**upsample

    @staticmethod
    def alignment_box(box: Box) -> Box:
        """The shape predictor was trained on this detector's boxes: given as they are."""
        return box

    def _build(self) -> Any:
        import dlib

        return dlib.get_frontal_face_detector()

    def detect(self, image: RGBImage) -> list[tuple[Box, float]]:
        seen: Any = image
        if self.grayscale:
            import cv2

            seen = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        with self.borrowed() as model:
            rects, scores, _ = model.run(seen, self.upsample, self.adjust_threshold)
        return [((float(r.left()), float(r.top()), float(r.right()), float(r.bottom())), float(s))
                for r, s in zip(rects, scores, strict=True)]


class DlibAligner(_Pooled):
    def _build(self) -> Any:
        import dlib

        return dlib.shape_predictor(str(model_path("shape_predictor_5_face_landmarks")))

    def landmarks(self, image: RGBImage, box: Box) -> npt.NDArray[np.float32]:
        import dlib

        rect = dlib.rectangle(*(int(round(v)) for v in box))
        with self.borrowed() as model:
            shape = model(image, rect)
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
