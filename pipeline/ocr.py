"""Pre- and post-processing for plate networks: a DB text detector and a CTC line recogniser (the
PP-OCR family), and a fixed-slot plate recogniser (fast-plate-ocr): tensors in, boxes and
per-character probabilities out. The networks themselves are called through the
``PlateLocaliser`` / ``PlateRecogniser`` protocols in ``pipeline.platereading``.

Conventions: images are uint8 RGB (H, W, 3); the networks take BGR, normalised to [-1, 1], NCHW.
Boxes are ``xyxy`` pixels of the image given."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from pipeline.types import Box, RGBImage

__all__ = ["ALPHABET", "CharColumn", "TextBox", "TextRead", "alphabet_columns", "ctc_columns", "detector_input",
           "equalise_contrast", "line_boxes", "merge_lines", "recogniser_input", "slot_columns", "upright_crop"]

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"  # what a plate can hold
FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class TextBox:
    """A text line: its rotated rectangle (four corners, clockwise from top-left) and DB score."""

    corners: tuple[tuple[float, float], ...]
    score: float

    @property
    def xyxy(self) -> Box:
        xs, ys = [p[0] for p in self.corners], [p[1] for p in self.corners]
        return (min(xs), min(ys), max(xs), max(ys))

    @property
    def height(self) -> float:
        (x0, y0), (x1, y1), _, (x3, y3) = self.corners
        return math.hypot(x3 - x0, y3 - y0)

    @property
    def width(self) -> float:
        (x0, y0), (x1, y1) = self.corners[0], self.corners[1]
        return math.hypot(x1 - x0, y1 - y0)


@dataclass(frozen=True)
class CharColumn:
    """One emitted character: the probability of each ALPHABET symbol at its CTC step (letters
    folded over case), and the symbol chosen."""

    char: str
    probs: tuple[float, ...]

    @property
    def p(self) -> float:
        return self.probs[ALPHABET.index(self.char)]

    def best(self, allowed: str) -> tuple[str, float]:
        i = max((ALPHABET.index(c) for c in allowed), key=lambda k: self.probs[k])
        return ALPHABET[i], self.probs[i]


@dataclass(frozen=True)
class TextRead:
    """What a recogniser read in one crop: its characters, each with its probabilities, and the
    country of the plate where the recogniser names one (ISO 3166-1 alpha-2, e.g. "GB", "DE"; None
    when it does not say or is unsure which) with its probability."""

    columns: tuple[CharColumn, ...]
    region: str | None = None
    region_p: float = 0.0

    @property
    def text(self) -> str:
        return "".join(c.char for c in self.columns)


def _normalise(bgr: npt.NDArray[Any]) -> FloatArray:
    out: FloatArray = ((bgr.astype(np.float32) / 255.0 - 0.5) / 0.5).transpose(2, 0, 1)
    return out


def equalise_contrast(image: RGBImage, clip: float = 2.0, tiles: int = 8) -> RGBImage:
    """A copy with local contrast equalised on lightness (CLAHE on L of Lab): faint characters on
    grey, dirty or shaded plates stand out to a text detector (recall on the real US photos 95.9 %
    -> 98.6 % at 960 px, benchmarks/RESULTS.md, issue 27)."""
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB)
    lab[..., 0] = cv2.createCLAHE(clip, (tiles, tiles)).apply(np.ascontiguousarray(lab[..., 0]))
    return np.asarray(cv2.cvtColor(lab, cv2.COLOR_LAB2RGB), dtype=np.uint8)


def detector_input(image: RGBImage, max_side: int) -> tuple[FloatArray, tuple[float, float]]:
    """(1, 3, H', W') tensor with sides multiples of 32, no larger than ``max_side``; and the
    (x, y) factors from the tensor's pixels back to the image's."""
    h, w = image.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    th, tw = max(32, round(h * scale / 32) * 32), max(32, round(w * scale / 32) * 32)
    resized = cv2.resize(image, (tw, th), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    return _normalise(resized[..., ::-1])[None], (w / tw, h / th)


def line_boxes(prob: FloatArray, factors: tuple[float, float], image_wh: tuple[int, int],
               thresh: float = 0.3, box_thresh: float = 0.5, unclip: float = 1.6,
               min_side_px: float = 3.0) -> list[TextBox]:
    """DB post-processing of a (H', W') probability map: connected text regions -> rotated
    rectangles, grown by ``unclip`` (the shrink DB was trained with), in image pixels."""
    bitmap = cv2.dilate((prob > thresh).astype(np.uint8), np.ones((2, 2), np.uint8))
    contours, _ = cv2.findContours(bitmap, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    out: list[TextBox] = []
    fx, fy = factors
    w, h = image_wh
    for c in contours:
        if len(c) < 4:
            continue
        (cx, cy), (rw, rh), angle = cv2.minAreaRect(c)
        if min(rw, rh) < min_side_px:
            continue
        x, y, bw, bh = cv2.boundingRect(c)  # score over the contour's own rectangle, not the whole map
        mask = np.zeros((bh, bw), np.uint8)
        cv2.drawContours(mask, [c], -1, 1, -1, offset=(-x, -y))
        score = float(cv2.mean(prob[y:y + bh, x:x + bw], mask)[0])
        if score < box_thresh:
            continue
        grow = rw * rh * unclip / (2 * (rw + rh))  # the Vatti offset distance for a rectangle
        pts = cv2.boxPoints(((cx, cy), (rw + 2 * grow, rh + 2 * grow), angle))
        pts[:, 0] = np.clip(pts[:, 0] * fx, 0, w - 1)
        pts[:, 1] = np.clip(pts[:, 1] * fy, 0, h - 1)
        out.append(TextBox(_clockwise(pts), score))
    return out


def _clockwise(pts: npt.NDArray[Any]) -> tuple[tuple[float, float], ...]:
    """Order four corners top-left, top-right, bottom-right, bottom-left."""
    by_x = pts[np.argsort(pts[:, 0])]
    left, right = by_x[:2], by_x[2:]
    tl, bl = left[np.argsort(left[:, 1])]
    tr, br = right[np.argsort(right[:, 1])]
    return tuple((float(x), float(y)) for x, y in (tl, tr, br, bl))


def merge_lines(boxes: Sequence[TextBox], max_gap_heights: float = 1.2, max_height_ratio: float = 1.5
                ) -> list[TextBox]:
    """Join boxes that are one line of text split at a wide space ("AB12" + "CDE"): similar
    height, vertically aligned, the gap under ``max_gap_heights`` line heights. The joined box is
    the union rectangle (axis-aligned), its score the mean."""
    items = sorted(boxes, key=lambda b: b.xyxy[0])
    merged: list[TextBox] = []
    for b in items:
        for i, m in enumerate(merged):
            (ax0, ay0, ax1, ay1), (bx0, by0, bx1, by1) = m.xyxy, b.xyxy
            ha, hb = ay1 - ay0, by1 - by0
            if max(ha, hb) > max_height_ratio * max(1.0, min(ha, hb)):
                continue
            overlap_y = min(ay1, by1) - max(ay0, by0)
            gap = bx0 - ax1
            if overlap_y > 0.6 * min(ha, hb) and -0.5 * hb < gap < max_gap_heights * max(ha, hb):
                x0, y0, x1, y1 = min(ax0, bx0), min(ay0, by0), max(ax1, bx1), max(ay1, by1)
                merged[i] = TextBox(((x0, y0), (x1, y0), (x1, y1), (x0, y1)), (m.score + b.score) / 2)
                break
        else:
            merged.append(b)
    return merged


def upright_crop(image: RGBImage, box: TextBox, pad: float = 0.0, pad_y: float | None = None) -> RGBImage:
    """The box's content warped to an upright rectangle (text reading left to right), with ``pad``
    of the height added left and right and ``pad_y`` (default ``pad``) above and below; negative
    values crop inside the box."""
    pad_y = pad if pad_y is None else pad_y
    src = np.array(box.corners, np.float32)
    w = max(2, round(box.width + 2 * pad * box.height))
    h = max(2, round(box.height * (1 + 2 * pad_y)))
    if pad or pad_y:
        c = src.mean(axis=0)
        src = c + (src - c) * np.array([w / max(box.width, 1.0), h / max(box.height, 1.0)], np.float32)
    dst = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    m = cv2.getPerspectiveTransform(src, dst)
    crop = cv2.warpPerspective(image, m, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    return np.ascontiguousarray(crop)


def recogniser_input(crops: Sequence[RGBImage], height: int = 48, max_ratio: float = 10.0) -> FloatArray:
    """(N, 3, height, W) batch: each crop scaled to ``height`` keeping its aspect (capped at
    ``max_ratio``), padded right with zeros to the widest."""
    widths = [min(max_ratio, c.shape[1] / max(1, c.shape[0])) for c in crops]
    width = max(16, math.ceil(height * max(widths, default=1.0)))
    batch = np.zeros((len(crops), 3, height, width), np.float32)
    for i, (c, r) in enumerate(zip(crops, widths, strict=True)):
        w = max(1, min(width, math.ceil(height * r)))
        batch[i, :, :, :w] = _normalise(cv2.resize(c, (w, height), interpolation=cv2.INTER_LINEAR)[..., ::-1])
    return batch


def alphabet_columns(charset: Sequence[str]) -> list[list[int]]:
    """For each ALPHABET symbol, the recogniser output columns that mean it (upper and lower case).
    Column 0 is the CTC blank; ``charset[k]`` is column k + 1."""
    cols: list[list[int]] = [[] for _ in ALPHABET]
    for k, ch in enumerate(charset):
        up = ch.upper()
        if len(up) == 1 and up in ALPHABET:
            cols[ALPHABET.index(up)].append(k + 1)
    return cols


def ctc_columns(probs: FloatArray, columns: Sequence[Sequence[int]]) -> list[CharColumn]:
    """Greedy CTC over a (T, C) softmax output restricted to ALPHABET: collapse repeats, drop
    steps where the blank or the mass outside the alphabet wins. Each kept character carries its step's ALPHABET probabilities."""
    folded = np.stack([probs[:, c].sum(axis=1) if c else np.zeros(len(probs), np.float32) for c in columns], axis=1)
    # The blank, and everything outside the alphabet (spaces, punctuation, other scripts), separate.
    gap = np.maximum(probs[:, 0], probs.sum(axis=1) - probs[:, 0] - folded.sum(axis=1))
    out: list[CharColumn] = []
    previous = -1
    for t in range(len(probs)):
        k = int(np.argmax(folded[t]))
        if gap[t] >= folded[t, k]:
            previous = -1
            continue
        if k != previous:
            out.append(CharColumn(ALPHABET[k], tuple(float(v) for v in folded[t])))
        elif folded[t, k] > out[-1].p:  # the same character over several steps: keep its surest step
            out[-1] = CharColumn(ALPHABET[k], tuple(float(v) for v in folded[t]))
        previous = k
    return out


def slot_columns(probs: FloatArray, alphabet: str, pad: str) -> list[CharColumn]:
    """A fixed-slot recogniser's (S, C) softmax output (one row per character slot, columns the
    symbols of ``alphabet``, ``pad`` filling the slots after the registration): one character per
    slot whose likeliest symbol is not the pad, with its probabilities mapped onto ALPHABET
    (symbols outside it, and the pad, left out)."""
    index = [alphabet.index(ch) if ch in alphabet else -1 for ch in ALPHABET]
    pad_index = alphabet.index(pad)
    out: list[CharColumn] = []
    for row in probs:
        if int(np.argmax(row)) == pad_index:
            continue
        folded = tuple(float(row[i]) if i >= 0 else 0.0 for i in index)
        out.append(CharColumn(ALPHABET[int(np.argmax(folded))], folded))
    return out
