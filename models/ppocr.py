"""PP-OCRv6 small text detector (DB) and line recogniser (CTC), the ONNX files inside the
``rapidocr`` wheel (Apache-2.0), run with onnxruntime. Only the network files are used; the
pre- and post-processing is ours (``pipeline.ocr``), so nothing in rapidocr's code path (which can
download) runs. Files are verified against models/manifest.json before the first session.

onnxruntime gets one intra-op thread per session by default: on 2 shared cores that ran RapidOCR
about 4x faster under load than onnxruntime's default; scale with worker processes instead."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from models.registry import model_path, model_versions
from pipeline.ocr import CharColumn, TextBox, alphabet_columns, ctc_columns, detector_input, line_boxes, \
    recogniser_input
from pipeline.types import RGBImage

__all__ = ["PLATE_MODEL_NAMES", "PPOCRDetector", "PPOCRRecogniser", "cpu_session", "plate_model_versions"]

PLATE_MODEL_NAMES = ["ppocrv6_det_small", "ppocrv6_rec_small"]


def plate_model_versions() -> dict[str, str]:
    return model_versions(PLATE_MODEL_NAMES)


def cpu_session(model: str | bytes, threads: int) -> Any:
    """An onnxruntime CPU session of a model (a path or its bytes) with ``threads`` intra-op threads."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])


class _Session:
    """An onnxruntime session built on first use, under a lock (sessions are thread-safe to run)."""

    def __init__(self, name: str, threads: int) -> None:
        self.name, self.threads = name, threads
        self._session: Any = None
        self._lock = threading.Lock()

    @property
    def session(self) -> Any:
        with self._lock:
            if self._session is None:
                self._session = cpu_session(str(model_path(self.name)), self.threads)
            return self._session

    def run(self, x: np.ndarray) -> np.ndarray:
        s = self.session
        return s.run(None, {s.get_inputs()[0].name: x})[0]  # type: ignore[no-any-return]


class PPOCRDetector:
    """Text lines in a frame. ``max_side`` bounds the network's input (sides rounded to 32); the
    lines found are read from the full-resolution image."""

    def __init__(self, max_side: int = 960, threads: int = 1, thresh: float = 0.3, box_thresh: float = 0.5,
                 unclip: float = 1.6) -> None:
        self._net = _Session("ppocrv6_det_small", threads)
        self.max_side, self.thresh, self.box_thresh, self.unclip = max_side, thresh, box_thresh, unclip

    def load(self) -> None:
        _ = self._net.session

    def detect(self, image: RGBImage, max_side: int | None = None) -> list[TextBox]:
        x, factors = detector_input(image, max_side or self.max_side)
        prob = self._net.run(x)[0, 0]
        h, w = image.shape[:2]
        return line_boxes(prob, factors, (w, h), self.thresh, self.box_thresh, self.unclip)


class PPOCRRecogniser:
    """Characters of upright line crops, restricted to A-Z and 0-9 (the network knows ~18,700
    symbols; a plate holds 36), with each character's probabilities for the grammar to use."""

    def __init__(self, threads: int = 1, batch: int = 8) -> None:
        self._net = _Session("ppocrv6_rec_small", threads)
        self.batch = batch
        self._columns: list[list[int]] | None = None

    def load(self) -> None:
        _ = self.columns

    @property
    def columns(self) -> list[list[int]]:
        if self._columns is None:
            meta = self._net.session.get_modelmeta().custom_metadata_map
            self._columns = alphabet_columns(meta["character"].splitlines())
        return self._columns

    def read(self, crops: Sequence[RGBImage]) -> list[list[CharColumn]]:
        out: list[list[CharColumn]] = []
        order = sorted(range(len(crops)), key=lambda i: crops[i].shape[1] / max(1, crops[i].shape[0]))
        results: dict[int, list[CharColumn]] = {}
        for k in range(0, len(order), self.batch):  # similar aspect ratios together: less padding
            idx = order[k:k + self.batch]
            probs = self._net.run(recogniser_input([crops[i] for i in idx]))
            for i, p in zip(idx, probs, strict=True):
                results[i] = ctc_columns(p, self.columns)
        out = [results[i] for i in range(len(crops))]
        return out
