"""Reading and writing still images (reference photos, face crops)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from pipeline.errors import InvalidReference
from pipeline.types import RGBImage

__all__ = ["decode_rgb", "encode_jpeg", "read_rgb"]

MAX_SIDE_PX = 1600


def read_rgb(path: Path, max_side_px: int = MAX_SIDE_PX) -> RGBImage:
    """RGB uint8 image, shrunk to at most max_side_px; InvalidReference when unreadable."""
    if not path.is_file():
        raise InvalidReference(f"{path}: no such file")
    return decode_rgb(path.read_bytes(), str(path), max_side_px)


def decode_rgb(data: bytes, name: str, max_side_px: int = MAX_SIDE_PX) -> RGBImage:
    """``read_rgb`` for an image already in memory (an uploaded photo)."""
    bgr = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR) if data else None
    if bgr is None:
        raise InvalidReference(f"{name}: not a readable image")
    scale = max_side_px / max(bgr.shape[:2])
    if scale < 1:
        bgr = cv2.resize(bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


def encode_jpeg(image: RGBImage, quality: int = 92) -> bytes:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return bytes(buf)
