"""Shared by the face benchmarks: embed LFW-style photos with the project's own path (dlib HOG
with one upsample, 5-point alignment, ResNet embedding) and cache the vectors per file hash."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evidence.images import read_rgb
from evidence.runtime import FaceModels
from evidence.settings import Settings
from models.registry import catalogue
from pipeline.types import Box

CACHE = Path(__file__).resolve().parent / ".cache"


@dataclass
class Embedded:
    vectors: dict[str, np.ndarray]  # "Name/Name_0001.jpg" -> (128,)
    undetected: list[str]
    seconds_per_image: float


def _central(boxes: list[tuple[Box, float]], wh: tuple[int, int]) -> Box:
    """LFW photos are centred on their subject: take the detection nearest the centre."""
    cx, cy = wh[0] / 2, wh[1] / 2
    return min(boxes, key=lambda b: (b[0][0] + b[0][2] - 2 * cx) ** 2 + (b[0][1] + b[0][3] - 2 * cy) ** 2)[0]


def configured_faces() -> FaceModels:
    """The face models the settings name (EVIDENCE_FACE_EMBEDDER, EVIDENCE_MODEL_MANIFESTS, ...): a
    force re-measuring its own embedder sets them as its processes do."""
    s = Settings()
    return FaceModels.for_settings(s, catalogue(tuple(s.model_manifests)))


def embed_images(images_dir: Path, names: list[str], use_cache: bool = True) -> Embedded:
    """Embed each image (path relative to images_dir) with the configured embedder. Where no face is
    detected the central box of the photo is used and the image is counted in ``undetected``.
    Vectors are cached under benchmarks/.cache by embedder and file hash; ``use_cache=False``
    recomputes them (for timing)."""
    models = configured_faces()
    embedder = models.profile.name
    CACHE.mkdir(exist_ok=True)
    out: dict[str, np.ndarray] = {}
    undetected: list[str] = []
    todo = []
    for rel in names:
        data = (images_dir / rel).read_bytes()
        key = CACHE / f"{hashlib.sha256(data).hexdigest()}.npz" if embedder == "dlib-resnet-v1" else \
            CACHE / f"{embedder}-{hashlib.sha256(data).hexdigest()}.npz"
        if use_cache and key.exists():
            z = np.load(key)
            out[rel] = z["v"]
            if bool(z["undetected"]):
                undetected.append(rel)
        else:
            todo.append((rel, key))
    started = time.perf_counter()
    for rel, key in todo:
        img = read_rgb(images_dir / rel)
        h, w = img.shape[:2]
        boxes = models.reference_detector.detect(img)
        box = _central(boxes, (w, h)) if boxes else (w * 0.3, h * 0.3, w * 0.7, h * 0.7)
        v = models.embedder.embed(img, models.aligner.landmarks(img, box))
        np.savez(key, v=v, undetected=not boxes)
        out[rel] = v
        if not boxes:
            undetected.append(rel)
    per_image = (time.perf_counter() - started) / len(todo) if todo else float("nan")
    return Embedded(out, undetected, per_image)
