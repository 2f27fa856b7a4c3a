"""Follow face detections across sampled frames into face tracks (one per person on screen).

Association is greedy on the overlap of a detection with where the track's box is predicted to be
(constant velocity from its last two sightings). A detection that overlaps a track seen in the
previous sample joins it. Otherwise (a face seen again after a gap, or two faces near each other)
it joins a track only if it is near *and* either the pairing is unambiguous for a track seen in
the previous sample, or its embedding is within ``same_person_distance`` of the track's:
embeddings are computed only for those cases, never for every detection. A track closes when its face has not been seen for ``max_gap_s``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from pipeline.boxes import box_area, box_iou
from pipeline.faces import sample_face
from pipeline.types import Box, Embedding, FaceDetection, FaceSample, FaceTrack, Frame

__all__ = ["FaceTracker", "TrackerParams", "association_cost"]

_NO_EMBEDDINGS = np.zeros((0, 0), dtype=np.float32)  # none yet: the embedder fills them in (pipeline.analysis)


@dataclass(frozen=True)
class TrackerParams:
    max_gap_s: float = 1.5
    max_shift_widths: float = 1.2  # centre movement between samples, in face widths
    max_size_ratio: float = 1.8
    keep_samples: int = 2
    min_iou: float = 0.3
    same_person_distance: float = 0.55
    # False: never compute an embedding to associate; a near, unambiguous pair is one face even
    # after a gap (the keyframe quick pass, whose samples are seconds apart and whose whole cost
    # is embeddings).
    embed_to_associate: bool = True


def association_cost(a: Box, b: Box, params: TrackerParams) -> tuple[float, bool] | None:
    """(association cost, overlapping) of a track's predicted box and a detection; None when they
    cannot be one face."""
    iou = box_iou(a, b)
    if iou >= params.min_iou:
        return 1.0 - iou, True
    # A face's size is the square root of its box's area: a detector's box for one face can be
    # narrow in one frame and wide in the next (a face turning), its area changes far less.
    wa, wb = float(np.sqrt(box_area(a))), float(np.sqrt(box_area(b)))
    if max(wa, wb) / max(1e-6, min(wa, wb)) > params.max_size_ratio:
        return None
    shift = np.hypot((a[0] + a[2] - b[0] - b[2]) / 2, (a[1] + a[3] - b[1] - b[3]) / 2) / max(wa, 1e-6)
    return (1.0 + float(shift), False) if shift <= params.max_shift_widths else None


@dataclass
class _OpenTrack:
    index: int
    first_t_s: float
    last_t_s: float
    last_box: Box
    first_box: Box
    n_detections: int = 0
    samples: list[FaceSample] = field(default_factory=list)
    reference: Embedding | None = None  # embedding of the first sample, computed when first needed
    velocity_xy: tuple[float, float] = (0.0, 0.0)  # box centre, pixels per second

    def predicted(self, t_s: float) -> Box:
        dt = t_s - self.last_t_s
        dx, dy = self.velocity_xy[0] * dt, self.velocity_xy[1] * dt
        x0, y0, x1, y1 = self.last_box
        return (x0 + dx, y0 + dy, x1 + dx, y1 + dy)

    def add(self, frame: Frame, det: FaceDetection, keep: int) -> None:
        if self.n_detections and det.t_s > self.last_t_s:
            dt = det.t_s - self.last_t_s
            a, b = self.last_box, det.xyxy
            self.velocity_xy = ((b[0] + b[2] - a[0] - a[2]) / 2 / dt, (b[1] + b[3] - a[1] - a[3]) / 2 / dt)
        self.last_t_s, self.last_box = det.t_s, det.xyxy
        self.n_detections += 1
        worst = self.samples[-1].detection.quality if len(self.samples) >= keep else -1.0
        if det.quality > worst:
            self.samples.append(sample_face(frame, det))
            self.samples.sort(key=lambda s: -s.detection.quality)
            del self.samples[keep:]

    def snapshot(self) -> FaceTrack:
        return FaceTrack(self.index, self.first_t_s, self.last_t_s, self.n_detections,
                         tuple(self.samples), _NO_EMBEDDINGS, self.first_box, self.last_box)


class FaceTracker:
    """Stateful but pure: feed ``update`` each sampled frame's detections in time order; it returns
    the tracks that closed. ``finish`` closes the rest. Tracks carry no embeddings yet.

    ``embed`` (a sample's 128-d embedding) settles associations that box overlap cannot."""

    def __init__(self, params: TrackerParams, embed: Callable[[FaceSample], Embedding]) -> None:
        self._params = params
        self._embed = embed
        self._open: list[_OpenTrack] = []
        self._next_index = 0
        self._last_frame_t_s = float("-inf")

    def _same_person(self, track: _OpenTrack, sample: FaceSample) -> bool:
        if track.reference is None:
            track.reference = self._embed(track.samples[0])
        return float(np.linalg.norm(track.reference - self._embed(sample))) <= self._params.same_person_distance

    def update(self, frame: Frame, detections: list[FaceDetection]) -> list[FaceTrack]:
        p = self._params
        pairs = sorted(
            (cost[0], cost[1], ti, di)
            for ti, track in enumerate(self._open)
            for di, det in enumerate(detections)
            if (cost := association_cost(track.predicted(frame.t_s), det.xyxy, p)) is not None
        )
        per_track = Counter(ti for _, _, ti, _ in pairs)
        per_det = Counter(di for _, _, _, di in pairs)
        used_t: set[int] = set()
        used_d: set[int] = set()
        for _, overlapping, ti, di in pairs:
            if ti in used_t or di in used_d:
                continue
            track = self._open[ti]
            recent = track.last_t_s == self._last_frame_t_s or not p.embed_to_associate
            unambiguous = per_track[ti] == 1 and per_det[di] == 1 and recent
            # After a gap even an overlapping face is checked: someone stepping into the place a
            # person left a moment ago is someone else.
            if not ((overlapping and recent) or unambiguous) and (
                    not p.embed_to_associate or not self._same_person(track, sample_face(frame, detections[di]))):
                continue
            used_t.add(ti)
            used_d.add(di)
            self._open[ti].add(frame, detections[di], p.keep_samples)
        for di, det in enumerate(detections):
            if di not in used_d:
                track = _OpenTrack(self._next_index, det.t_s, det.t_s, det.xyxy, det.xyxy)
                self._next_index += 1
                track.add(frame, det, p.keep_samples)
                self._open.append(track)
        self._last_frame_t_s = frame.t_s
        closed = [t for t in self._open if frame.t_s - t.last_t_s > p.max_gap_s]
        self._open = [t for t in self._open if frame.t_s - t.last_t_s <= p.max_gap_s]
        return [t.snapshot() for t in closed]

    def predicted_boxes(self, t_s: float) -> list[Box]:
        """Where each open track's face should be at t_s (for a detection pass near them)."""
        return [t.predicted(t_s) for t in self._open]

    def open_tracks(self) -> list[FaceTrack]:
        return [t.snapshot() for t in self._open]

    def finish(self) -> list[FaceTrack]:
        closed, self._open = self._open, []
        return [t.snapshot() for t in closed]
