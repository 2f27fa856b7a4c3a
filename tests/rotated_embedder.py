"""A face embedder for the tests of swapping models: dlib's vectors turned by a fixed random
rotation. Distances between its own vectors are dlib's (so after `evidence models reembed` it
matches what dlib matched), but its vectors are nothing like dlib's: a stand-in for another model.
Loaded by name through a test manifest, as a force's own adapter would be."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from models.dlib_faces import DlibEmbedder
from models.registry import Catalogue, ModelEntry
from pipeline.types import Embedding, RGBImage


class RotatedEmbedder:
    def __init__(self, entry: ModelEntry) -> None:
        self.entry = entry
        self._dlib = DlibEmbedder(entry)  # the same network file, verified by the entry's SHA-256
        q, _ = np.linalg.qr(np.random.default_rng(27).normal(size=(128, 128)))
        self._rotation = q.astype(np.float32)

    @classmethod
    def from_entry(cls, entry: ModelEntry, _: Catalogue, threads: int) -> RotatedEmbedder:
        return cls(entry)

    def load(self) -> None:
        self._dlib.load()

    def embed(self, image: RGBImage, landmarks_xy: npt.NDArray[np.float32]) -> Embedding:
        return np.asarray(self._dlib.embed(image, landmarks_xy) @ self._rotation, dtype=np.float32)
