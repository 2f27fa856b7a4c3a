"""Long footage in parallel: cut a clip into time segments at keyframes, and join the face tracks
that the cuts split.

A segment starts on a keyframe, so a worker can seek straight to it and decode exactly that
stretch; every segment is analysed on its own (``pipeline.analysis``), and a person on screen
across a cut ends one segment's track and starts the next one's. ``stitch_tracks`` joins such
pairs with the tracker's own rule: the face must be where it was (box overlap), or near it *and*
the same person by embedding."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pipeline.tracking import TrackerParams, association_cost
from pipeline.types import Box

__all__ = ["Segment", "TrackEnds", "plan_segments", "stitch_tracks"]


@dataclass(frozen=True)
class Segment:
    """[start_s, end_s) of the clip; ``end_s`` None runs to the end of the file."""

    index: int
    start_s: float
    end_s: float | None


def plan_segments(keyframes_s: Sequence[float], duration_s: float, segment_s: float) -> list[Segment]:
    """Cut at the first keyframe at least ``segment_s`` after the previous cut, leaving no tail
    shorter than half a segment. Times are from the start of the clip (the first keyframe is 0)."""
    origin = min(keyframes_s) if keyframes_s else 0.0
    cuts = [0.0]
    for k in sorted(t - origin for t in keyframes_s):
        if k - cuts[-1] >= segment_s and duration_s - k >= segment_s / 2:
            cuts.append(round(k, 6))
    ends: list[float | None] = [*cuts[1:], None]
    return [Segment(i, start, end) for i, (start, end) in enumerate(zip(cuts, ends, strict=True))]


@dataclass(frozen=True)
class TrackEnds:
    """What stitching needs of a stored track: when and where it starts and ends, its embeddings."""

    key: int
    segment: int
    first_t_s: float
    last_t_s: float
    first_xyxy: Box
    last_xyxy: Box
    embeddings: npt.NDArray[np.float32]


def _min_distance(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> float:
    if len(a) == 0 or len(b) == 0:
        return float("inf")
    return float(np.linalg.norm(a[:, None, :] - b[None, :, :], axis=2).min())


def stitch_tracks(tracks: Sequence[TrackEnds], segments: Sequence[Segment], params: TrackerParams) -> dict[int, int]:
    """Which tracks continue an earlier one across a cut: {later key: key of the track it joins}.

    Chains resolve to the first track (a person on screen for three segments is one track)."""
    by_segment: dict[int, list[TrackEnds]] = {}
    for t in tracks:
        by_segment.setdefault(t.segment, []).append(t)
    joined: dict[int, int] = {}
    # The open end of each chain, as the tracker would see it: the last piece's end, all embeddings.
    ends: dict[int, TrackEnds] = {t.key: t for t in tracks}
    for seg in segments[1:]:
        cut = seg.start_s
        before = [ends[joined.get(t.key, t.key)] for t in by_segment.get(seg.index - 1, [])
                  if t.last_t_s >= cut - params.max_gap_s]
        before = [t for t in {b.key: b for b in before}.values() if t.last_t_s >= cut - params.max_gap_s]
        after = [t for t in by_segment.get(seg.index, []) if t.first_t_s <= cut + params.max_gap_s]
        pairs = []
        for a in before:
            for b in after:
                if not 0 < b.first_t_s - a.last_t_s <= params.max_gap_s:
                    continue
                cost = association_cost(a.last_xyxy, b.first_xyxy, params)
                if cost is None:
                    continue
                distance = _min_distance(a.embeddings, b.embeddings)
                if cost[1] or distance <= params.same_person_distance:
                    pairs.append((cost[0], distance, a.key, b.key))
        used_a: set[int] = set()
        used_b: set[int] = set()
        for _, _, ak, bk in sorted(pairs):
            if ak in used_a or bk in used_b:
                continue
            used_a.add(ak)
            used_b.add(bk)
            root = joined.get(ak, ak)
            joined[bk] = root
            a, b = ends[root], ends[bk]
            ends[root] = TrackEnds(root, b.segment, a.first_t_s, b.last_t_s, a.first_xyxy, b.last_xyxy,
                                   np.concatenate([a.embeddings, b.embeddings]))
    return joined
