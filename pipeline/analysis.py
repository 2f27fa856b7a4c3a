"""The face chain over a stream of detected frames: track, embed the best few faces of each track.

Full-frame detection (``pipeline.faces.detect_faces``) is done by the caller on every
``full_frame_every``-th sampled frame (``needs_full_pass``), so that it can run frames in parallel
and hand them over in order. On the frames between, faces are looked for only where the open
tracks predict them (``detect_near``): tracks keep the full sample rate while new faces are found
within ``full_frame_every`` samples, at a fraction of the detection cost.

``analyse_faces`` is a generator of TrackEvent: an ``opened`` event as soon as a track has
``early_after`` detections (one embedding, so a first alert can go out within seconds) and a
``closed`` event with up to ``embed_per_track`` embeddings when the track ends. Embeddings are
computed only for those samples, never for every detection of a long track."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from pipeline.faces import FaceEmbedder, detection_scale, embed_sample
from pipeline.tracking import FaceTracker, TrackerParams
from pipeline.types import Box, Embedding, FaceDetection, FaceSample, FaceTrack, Frame

__all__ = ["FaceParams", "TrackEvent", "analyse_faces", "quick_faces"]


@dataclass(frozen=True)
class FaceParams:
    min_face_px: float = 40.0
    detector_min_px: float = 16.0  # smallest face the detector finds in the image it is given
    full_frame_every: int = 2
    early_after: int = 2
    embed_per_track: int = 2
    tracker: TrackerParams = field(default_factory=TrackerParams)

    @property
    def detect_scale(self) -> float:
        return detection_scale(self.min_face_px, self.detector_min_px)

    def needs_full_pass(self, frame: Frame) -> bool:
        return frame.index % max(1, self.full_frame_every) == 0


@dataclass(frozen=True)
class TrackEvent:
    kind: Literal["opened", "closed"]
    track: FaceTrack
    frames_seen: int


def _cached(embedder: FaceEmbedder) -> Callable[[FaceSample], Embedding]:
    """Embed a sample once however often the tracker and the track events ask for it."""
    cache: dict[tuple[int, Box], Embedding] = {}

    def embed(sample: FaceSample) -> Embedding:
        key = (sample.detection.frame_index, sample.detection.xyxy)
        if key not in cache:
            cache[key] = embed_sample(sample, embedder)
        return cache[key]

    return embed


def analyse_faces(
    detected: Iterable[tuple[Frame, list[FaceDetection] | None]],
    detect_near: Callable[[Frame, list[Box]], list[FaceDetection]],
    embedder: FaceEmbedder,
    params: FaceParams,
) -> Iterator[TrackEvent]:
    """Frames in time order with their full-frame detections (None where no full pass was run)
    in; track events out."""
    embed = _cached(embedder)
    tracker = FaceTracker(params.tracker, embed)
    announced: set[int] = set()
    n = 0

    def with_embeddings(track: FaceTrack, k: int) -> FaceTrack:
        rows = [embed(sample) for sample in track.samples[:k]]
        return dataclasses.replace(track, embeddings=np.stack(rows).astype(np.float32))

    for frame, full in detected:
        n += 1
        detections = full if full is not None else detect_near(frame, tracker.predicted_boxes(frame.t_s))
        for track in tracker.update(frame, detections):
            yield TrackEvent("closed", with_embeddings(track, params.embed_per_track), n)
        for track in tracker.open_tracks():
            if track.track_index not in announced and track.n_detections >= params.early_after:
                announced.add(track.track_index)
                yield TrackEvent("opened", with_embeddings(track, 1), n)
    for track in tracker.finish():
        yield TrackEvent("closed", with_embeddings(track, params.embed_per_track), n)


def quick_faces(
    detected: Iterable[tuple[Frame, list[FaceDetection]]],
    embedder: FaceEmbedder,
    params: TrackerParams,
) -> Iterator[FaceTrack]:
    """The keyframe triage: frames seconds apart (keyframes) with their detections in, one embedded
    sighting per person out, as soon as the person is first seen. People are followed from
    keyframe to keyframe by the tracker (with ``params`` loose enough for the spacing), so a person
    on screen for minutes costs one embedding, not one per keyframe."""
    embed = _cached(embedder)
    tracker = FaceTracker(params, embed)
    seen: set[int] = set()
    for frame, detections in detected:
        tracker.update(frame, detections)
        for track in tracker.open_tracks():
            if track.track_index not in seen:
                seen.add(track.track_index)
                yield dataclasses.replace(track, embeddings=embed(track.samples[0])[None, :].astype(np.float32))
