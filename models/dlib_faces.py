"""dlib implementations of the face roles in ``pipeline.faces``. Each loads its model lazily from
the path its manifest entry verifies; nothing is loaded at import.

The detector and shape predictor are lent one caller at a time from a small pool
(``models.pool``: one object used from two threads gives wrong results). The embedder's 22 MB
network is loaded once, so it can be loaded in the background while a clip is hashed and probed;
it runs in onnxruntime from any thread by default, or in dlib under a lock (see ``DlibEmbedder``)."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import numpy.typing as npt

from models.onnx import LazySession
from models.pool import Pooled
from models.registry import Catalogue, ModelEntry, catalogue
from pipeline.errors import ModelUnavailable
from pipeline.types import Box, Embedding, RGBImage

__all__ = ["DlibAligner", "DlibEmbedder", "DlibHogDetector"]

# dlib's face chip: what compute_face_descriptor cuts out and what its network (and the ONNX graph
# rebuilt from it) takes.
CHIP_SIZE, CHIP_PADDING = 150, 0.25


class DlibHogDetector(Pooled):
    """dlib's HOG face detector. ``upsample`` doubles the image that many times first (finds
    smaller faces, ~4x the cost each); ``adjust_threshold`` shifts the SVM threshold; with
    ``grayscale`` it runs on luminance: 21 % faster than on RGB, same recall on small faces in
    1080p (benchmarks/face_detection.py)."""

    # Finds faces down to roughly this width (pixels) in the image it is given (each upsample
    # halves it); measured on LFW faces composited into 1080p frames (benchmarks/face_detection.py).
    min_face_px = 54.0

    def __init__(self, upsample: int = 0, adjust_threshold: float = 0.0, grayscale: bool = True,
                 max_in_use: int | None = None, entry: ModelEntry | None = None) -> None:
        super().__init__(max_in_use)
        self.upsample, self.adjust_threshold, self.grayscale = upsample, adjust_threshold, grayscale
        self.min_face_px = 54.0 / 2**upsample
        self.entry = entry or catalogue().get("hog")

    @classmethod
    def from_entry(cls, entry: ModelEntry, _: Catalogue, threads: int) -> DlibHogDetector:
        return cls(entry=entry)

    def record(self) -> dict[str, object]:
        return {"name": self.entry.name, "upsample": self.upsample}

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


class DlibAligner(Pooled):
    """dlib's 5-point shape predictor (eye corners and nose base), trained on HOG's boxes."""

    def __init__(self, max_in_use: int | None = None, entry: ModelEntry | None = None) -> None:
        super().__init__(max_in_use)
        self.entry = entry or catalogue().get("dlib-5-point")

    @classmethod
    def from_entry(cls, entry: ModelEntry, _: Catalogue, threads: int) -> DlibAligner:
        return cls(entry=entry)

    def _build(self) -> Any:
        import dlib

        return dlib.shape_predictor(str(self.entry.path()))

    def landmarks(self, image: RGBImage, box: Box) -> npt.NDArray[np.float32]:
        import dlib

        rect = dlib.rectangle(*(int(round(v)) for v in box))
        with self.borrowed() as model:
            shape = model(image, rect)
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)


class DlibEmbedder:
    """dlib's ResNet face embedder: 128-d vectors compared by Euclidean distance.

    The face is cut out as dlib does (``dlib.get_face_chip``: 150 x 150, aligned on the five
    landmarks, 25 % padding) and the network runs either in onnxruntime (``runtime="onnx"``, the
    default where the entry names its ONNX file: the same weights rebuilt by
    models/recipes/dlib_resnet_to_onnx.py, within 1e-6 of dlib's own descriptors, so stored
    vectors, calibration and thresholds stay valid) or in dlib (``runtime="dlib"``, dlib's CPU
    code under a lock). onnxruntime's session runs from any thread."""

    RUNTIMES = ("onnx", "dlib")

    def __init__(self, entry: ModelEntry | None = None, runtime: str | None = None, threads: int = 1,
                 models: Catalogue | None = None) -> None:
        self.entry = entry or catalogue().get("dlib-resnet-v1")
        self.name = self.entry.name
        if runtime not in (None, *self.RUNTIMES):
            raise ModelUnavailable(f"face embedder {self.name}: runtime {runtime!r} is not one of "
                                   f"{', '.join(self.RUNTIMES)}")
        # onnx where the entry names its ONNX file; an entry without one runs in dlib whatever is asked
        # (and its results record no ONNX file).
        self.runtime = "onnx" if runtime in (None, "onnx") and "onnx" in self.entry.uses else "dlib"
        # The ONNX file's own entry: recorded with results beside the weights' (``runtime_entry``).
        self.runtime_entry = (models or catalogue()).companion(self.entry, "onnx") if self.runtime == "onnx" else None
        self._lock = threading.Lock()
        self._model: Any = None
        self._session = (LazySession(lambda: str(self.runtime_entry.path()), threads)  # type: ignore[union-attr]
                         if self.runtime_entry else None)

    @classmethod
    def from_entry(cls, entry: ModelEntry, models: Catalogue, threads: int, runtime: str | None = None) -> DlibEmbedder:
        return cls(entry, runtime, threads, models)

    @property
    def model(self) -> Any:
        with self._lock:
            if self._model is None:
                import dlib

                self._model = dlib.face_recognition_model_v1(str(self.entry.path()))
            return self._model

    def load(self) -> None:
        if self._session is not None:
            _ = self._session.session
        else:
            _ = self.model

    def embed(self, image: RGBImage, landmarks_xy: npt.NDArray[np.float32]) -> Embedding:
        import dlib

        x0, y0 = landmarks_xy.min(axis=0)
        x1, y1 = landmarks_xy.max(axis=0)
        rect = dlib.rectangle(int(x0), int(y0), int(x1) + 1, int(y1) + 1)
        shape = dlib.full_object_detection(rect, [dlib.point(int(round(x)), int(round(y))) for x, y in landmarks_xy])
        image = np.ascontiguousarray(image)
        if self._session is not None:
            chip = dlib.get_face_chip(image, shape, CHIP_SIZE, CHIP_PADDING)
            return np.asarray(self._session.run(chip[None])[0], dtype=np.float32)
        model = self.model
        with self._lock:
            return np.asarray(model.compute_face_descriptor(image, shape), dtype=np.float32)
