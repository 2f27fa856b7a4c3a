"""Where to look for number plates in footage: where something moved.

The plate search shares the face chain's decode (one pass over the footage) and runs the text
detector only where the picture changed since the last frame it searched: a vehicle that drives
in is found where it moves; a parked one is found by the whole-frame search made at the start of
each stretch and every ``full_every_s`` seconds after. Change is measured on a small blurred grey
thumbnail (sensor grain and compression noise do not count) after the picture's overall movement
is taken out (a hand-held camera sways and pans); when most of the picture still changed (a
zoom, a turn) the whole frame is searched."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from pipeline.types import Box, RGBImage

__all__ = ["MotionParams", "PlateRegions", "moving_regions", "thumbnail"]

Gray = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class MotionParams:
    thumb_width: int = 240  # pixels across the thumbnail change is measured on
    threshold: int = 14  # grey levels (of 255) a thumbnail pixel must change by
    min_changed_px: int = 3  # thumbnail pixels a changed patch must have to count
    grow: float = 0.2  # each moving region grown by this share of its size on every side
    min_region_px: int = 96  # in frame pixels: a region is at least this wide and high
    whole_frame_share: float = 0.5  # regions covering more of the frame than this: search it all
    full_every_s: float = 10.0  # a whole-frame search at least this often


def thumbnail(image: RGBImage, params: MotionParams = MotionParams()) -> Gray:
    h, w = image.shape[:2]
    tw = min(w, params.thumb_width)
    th = max(1, round(h * tw / w))
    small = cv2.resize(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), (tw, th), interpolation=cv2.INTER_AREA)
    return np.asarray(cv2.GaussianBlur(small, (5, 5), 0), dtype=np.uint8)


def _merge(boxes: list[Box]) -> list[Box]:
    """Union overlapping boxes until none overlap."""
    out = list(boxes)
    merged = True
    while merged:
        merged = False
        for i in range(len(out)):
            for j in range(i + 1, len(out)):
                a, b = out[i], out[j]
                if a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]:
                    out[i] = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
                    del out[j]
                    merged = True
                    break
            if merged:
                break
    return out


def _aligned(before: Gray, now: Gray) -> Gray:
    """``before`` moved onto ``now`` by the picture's overall movement (a hand-held camera's sway,
    pan or slight turn: corners tracked with pyramidal Lucas-Kanade, a rotation-scale-shift fitted
    with RANSAC, so people and vehicles moving in the picture are outliers), so only what moved
    within the picture differs. Where the movement uncovered new picture, ``now`` is kept."""
    pts = cv2.goodFeaturesToTrack(before, maxCorners=200, qualityLevel=0.01, minDistance=5)
    if pts is None or len(pts) < 8:
        return before
    moved, status, _ = cv2.calcOpticalFlowPyrLK(before, now, pts, np.empty_like(pts))
    ok = status.ravel() == 1
    if ok.sum() < 8:
        return before
    m, _ = cv2.estimateAffinePartial2D(pts[ok], moved[ok], method=cv2.RANSAC, ransacReprojThreshold=1.0)
    if m is None:
        return before
    size = (before.shape[1], before.shape[0])
    shifted = cv2.warpAffine(before, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    covered = cv2.warpAffine(np.ones_like(before), m, size, flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT)
    return np.where(covered > 0, shifted, now).astype(np.uint8)


def moving_regions(before: Gray, now: Gray, frame_wh: tuple[int, int],
                   params: MotionParams = MotionParams()) -> list[Box] | None:
    """Regions of the frame (xyxy, frame pixels) that changed between two thumbnails; None when
    the change covers so much that the whole frame should be searched."""
    w, h = frame_wh
    fx, fy = w / now.shape[1], h / now.shape[0]
    changed = (cv2.absdiff(_aligned(before, now), now) > params.threshold).astype(np.uint8)
    n, _, stats, _ = cv2.connectedComponentsWithStats(changed, connectivity=8)
    boxes: list[Box] = []
    for x, y, bw, bh, area in stats[1:n].tolist():
        if area < params.min_changed_px:  # a lone pixel or two: noise the blur did not remove
            continue
        gw, gh = max(bw * fx, params.min_region_px), max(bh * fy, params.min_region_px)
        cx, cy = (x + bw / 2) * fx, (y + bh / 2) * fy
        gw, gh = gw * (1 + 2 * params.grow), gh * (1 + 2 * params.grow)
        boxes.append((max(0.0, cx - gw / 2), max(0.0, cy - gh / 2), min(float(w), cx + gw / 2),
                      min(float(h), cy + gh / 2)))
    boxes = _merge(boxes)
    if sum((b[2] - b[0]) * (b[3] - b[1]) for b in boxes) > params.whole_frame_share * w * h:
        return None
    return boxes


class PlateRegions:
    """Frame by frame (in time order): the regions to search for plates, None for the whole frame."""

    def __init__(self, params: MotionParams = MotionParams()) -> None:
        self.params = params
        self._before: Gray | None = None
        self._last_full_s = -float("inf")

    def regions(self, image: RGBImage, t_s: float) -> list[Box] | None:
        now = thumbnail(image, self.params)
        before, self._before = self._before, now
        if before is None or before.shape != now.shape or t_s - self._last_full_s >= self.params.full_every_s:
            self._last_full_s = t_s
            return None
        found = moving_regions(before, now, (image.shape[1], image.shape[0]), self.params)
        if found is None:
            self._last_full_s = t_s
        return found
