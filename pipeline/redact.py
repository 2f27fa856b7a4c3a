"""Redaction for disclosure: blur regions of a frame. Pure: a new frame, the input untouched.

Detections run every few frames; a frame between two detection frames blurs the union of both
neighbours' boxes, each grown by ``grow`` of its size, so a face moving between them stays covered."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from pipeline.types import Box, RGBImage

__all__ = ["blur_regions", "boxes_between", "grown"]


def grown(box: Box, grow: float, size_wh: tuple[int, int]) -> tuple[int, int, int, int]:
    """``box`` grown by ``grow`` of its width/height on every side, clipped, as integer pixels."""
    x0, y0, x1, y1 = box
    dx, dy = (x1 - x0) * grow, (y1 - y0) * grow
    w, h = size_wh
    return (max(0, int(x0 - dx)), max(0, int(y0 - dy)), min(w, int(np.ceil(x1 + dx))), min(h, int(np.ceil(y1 + dy))))


def boxes_between(frame_index: int, stride: int, detected: dict[int, list[Box]]) -> list[Box]:
    """The boxes to blur on ``frame_index``: those of the detection frames at or just before and
    just after it (detections run on frames 0, stride, 2*stride, ...)."""
    before = frame_index - frame_index % stride
    after = before + stride if frame_index % stride else before
    return detected.get(before, []) + (detected.get(after, []) if after != before else [])


def blur_regions(image: RGBImage, boxes: Sequence[Box], grow: float = 0.4) -> RGBImage:
    """A copy of ``image`` (H, W, 3 uint8) with every box, grown by ``grow`` of its size on each
    side (a face box leaves out hair and ears), pixelated beyond recognition (8 blocks
    across the longer side of each box at most, then blurred: with 16, a 40 px face in a dark
    720p copy was still found as a face by CenterFace, tests/test_face_detection.py)."""
    out = image.copy()
    h, w = image.shape[:2]
    for box in boxes:
        x0, y0, x1, y1 = grown(box, grow, (w, h))
        if x1 - x0 < 2 or y1 - y0 < 2:
            continue
        region = out[y0:y1, x0:x1]
        scale = 8 / max(x1 - x0, y1 - y0)
        small = cv2.resize(region, (max(1, int((x1 - x0) * scale)), max(1, int((y1 - y0) * scale))),
                           interpolation=cv2.INTER_AREA)
        block = cv2.resize(small, (x1 - x0, y1 - y0), interpolation=cv2.INTER_NEAREST)
        k = max(3, (max(x1 - x0, y1 - y0) // 8) | 1)
        out[y0:y1, x0:x1] = cv2.GaussianBlur(block, (k, k), 0)
    return out
