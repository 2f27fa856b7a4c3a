"""The project's own plate reader: a ~165 k-parameter CRNN trained on synthetic UK plates
(models/recipes/train_plate_reader.py), run with onnxruntime. Same interface as the PP-OCR
recogniser (``pipeline.platereading.TextRecogniser``); benchmarks/plate_accuracy.py compares them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from pipeline.ocr import ALPHABET, CharColumn, alphabet_columns, ctc_columns
from pipeline.types import RGBImage

__all__ = ["CRNNRecogniser"]

H, W = 32, 128


class CRNNRecogniser:
    def __init__(self, path: Path, threads: int = 1) -> None:
        self.path, self.threads = path, threads
        self._session: Any = None
        self.columns = alphabet_columns(list(ALPHABET))

    def _net(self) -> Any:
        if self._session is None:
            import onnxruntime as ort

            opts = ort.SessionOptions()
            opts.intra_op_num_threads, opts.inter_op_num_threads = self.threads, 1
            self._session = ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
        return self._session

    def read(self, crops: Sequence[RGBImage]) -> list[list[CharColumn]]:
        if not crops:
            return []
        x = np.stack([(cv2.resize(cv2.cvtColor(c, cv2.COLOR_RGB2GRAY), (W, H), interpolation=cv2.INTER_AREA)
                       .astype(np.float32) / 255.0 - 0.5) / 0.5 for c in crops])[:, None]
        probs = self._net().run(None, {"x": x})[0]
        return [ctc_columns(p, self.columns) for p in probs]
