"""Reading and writing still images (reference photos, probe photos, face crops).

An image's size is read from its header (Pillow, which decodes nothing) before any decoding: a
small file can declare a huge picture (a 389 KB PNG of 20,000 x 20,000 pixels decodes to 1.2 GB),
so anything over ``MAX_PIXELS`` is refused unread. Large JPEGs are decoded at a reduced scale
straight away (the DCT scaling of libjpeg), never at full size only to be shrunk."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from pipeline.errors import InvalidReference
from pipeline.types import RGBImage

__all__ = ["MAX_FILE_BYTES", "MAX_PIXELS", "decode_rgb", "encode_jpeg", "image_size", "read_rgb"]

MAX_SIDE_PX = 1600
MAX_PIXELS = 50_000_000  # a 50-megapixel photo; phones save 12-50 MP
MAX_FILE_BYTES = 50 * 2**20
FORMATS = {"JPEG": "JPEG", "PNG": "PNG", "BMP": "BMP", "WEBP": "WebP"}
_REDUCED = {8: cv2.IMREAD_REDUCED_COLOR_8, 4: cv2.IMREAD_REDUCED_COLOR_4, 2: cv2.IMREAD_REDUCED_COLOR_2}


def read_rgb(path: Path, max_side_px: int = MAX_SIDE_PX, name: str | None = None) -> RGBImage:
    """RGB uint8 image, shrunk to at most max_side_px; InvalidReference (naming it ``name``, by
    default the path) when unreadable or too large."""
    if not path.is_file():
        raise InvalidReference(f"{name or path}: no such file")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise InvalidReference(f"{name or path}: over {MAX_FILE_BYTES // 2**20} MiB, not read")
    return decode_rgb(path.read_bytes(), name or str(path), max_side_px)


def image_size(data: bytes, name: str) -> tuple[int, int]:
    """(width, height) from the image's header alone; InvalidReference for anything but a JPEG,
    PNG, BMP or WebP image of at most MAX_PIXELS."""
    try:
        with Image.open(io.BytesIO(data)) as im:  # lazy: the header only
            (w, h), fmt = im.size, im.format
    except Image.DecompressionBombError as exc:  # Pillow's own, far larger, limit
        raise InvalidReference(f"{name}: over the {MAX_PIXELS // 1_000_000}-megapixel limit ({exc})") from exc
    except Exception as exc:  # Pillow raises many kinds of error on a bad header
        raise InvalidReference(f"{name}: not a readable image") from exc
    if fmt not in FORMATS:
        raise InvalidReference(f"{name}: a {fmt} image; send a JPEG, PNG, BMP or WebP photo")
    if w * h > MAX_PIXELS:
        raise InvalidReference(f"{name}: {w} x {h} pixels is over the {MAX_PIXELS // 1_000_000}-megapixel limit")
    return w, h


def decode_rgb(data: bytes, name: str, max_side_px: int = MAX_SIDE_PX) -> RGBImage:
    """``read_rgb`` for an image already in memory (an uploaded photo)."""
    if not data:
        raise InvalidReference(f"{name}: not a readable image (empty)")
    w, h = image_size(data, name)
    factor = next((f for f in _REDUCED if max(w, h) / f >= max_side_px), 1)
    flags = _REDUCED.get(factor, cv2.IMREAD_COLOR)
    bgr = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), flags)
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
