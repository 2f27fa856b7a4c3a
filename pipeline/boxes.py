"""Box arithmetic on ``xyxy`` pixel boxes."""

from __future__ import annotations

from pipeline.types import Box

__all__ = ["box_area", "box_iou", "intersection_area", "overlap_of_smaller", "square_around"]


def box_area(b: Box) -> float:
    return max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])


def intersection_area(a: Box, b: Box) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    return ix * iy


def box_iou(a: Box, b: Box) -> float:
    inter = intersection_area(a, b)
    union = box_area(a) + box_area(b) - inter
    return inter / union if union > 0 else 0.0


def overlap_of_smaller(a: Box, b: Box) -> float:
    """Share of the smaller box covered by the other (1.0 when one contains the other)."""
    smaller = min(box_area(a), box_area(b))
    return intersection_area(a, b) / smaller if smaller > 0 else 0.0


def square_around(box: Box, side_widths: float, dx_widths: float, dy_heights: float) -> Box:
    """A square ``side_widths`` of ``box``'s width across, its centre moved ``dx_widths`` widths right
    and ``dy_heights`` heights down from ``box``'s (how one detector's box is turned into the shape
    another model was trained on)."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    cx, cy, side = (x0 + x1) / 2 + dx_widths * w, (y0 + y1) / 2 + dy_heights * h, side_widths * w
    return (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)
