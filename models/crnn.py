"""The project's own plate reader: a ~165 k-parameter CRNN trained on synthetic UK plates
(models/recipes/train_plate_reader.py), run with onnxruntime. A ``PlateRecogniser`` reading text
lines like the PP-OCR recogniser; not shipped (benchmarks/plate_accuracy.py compares it when its
file is given)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
import cv2
import numpy as np

from models.onnx import LazySession
from pipeline.ocr import ALPHABET, TextRead, alphabet_columns, ctc_columns
from pipeline.types import RGBImage

__all__ = ["CRNNRecogniser"]

H, W = 32, 128


class CRNNRecogniser:
    crop_pads = ((0.0, -0.1), (0.0, 0.0), (-0.05, -0.05))
    whole_plate = False

    def __init__(self, path: Path, threads: int = 1) -> None:
        self.path = path
        self._net = LazySession(lambda: str(path), threads)
        self.columns = alphabet_columns(list(ALPHABET))

    def read(self, crops: Sequence[RGBImage]) -> list[TextRead]:
        if not crops:
            return []
        x = np.stack([(cv2.resize(cv2.cvtColor(c, cv2.COLOR_RGB2GRAY), (W, H), interpolation=cv2.INTER_AREA)
                       .astype(np.float32) / 255.0 - 0.5) / 0.5 for c in crops])[:, None]
        return [TextRead(tuple(ctc_columns(p, self.columns))) for p in self._net.run(x)]
