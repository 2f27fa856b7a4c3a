"""The face chain over a stream of frames: detect, track, embed the best few faces of each track.

``analyse_faces`` is a generator of TrackEvent: an ``opened`` event as soon as a track has
``early_after`` detections (one embedding, so a first alert can go out within seconds) and a
``closed`` event with up to ``embed_per_track`` embeddings when the track ends. Embeddings are
computed only for those samples, never for every detection of a long track."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from pipeline.faces import FaceAligner, FaceDetector, FaceEmbedder, detect_faces, detection_scale, embed_sample
from pipeline.tracking import FaceTracker, TrackerParams
from pipeline.types import Embedding, FaceTrack, Frame

__all__ = ["FaceParams", "TrackEvent", "analyse_faces"]


@dataclass(frozen=True)
class FaceParams:
    min_face_px: float = 80.0
    early_after: int = 2
    embed_per_track: int = 3
    tracker: TrackerParams = field(default_factory=TrackerParams)

    @property
    def detect_scale(self) -> float:
        return detection_scale(self.min_face_px)


@dataclass(frozen=True)
class TrackEvent:
    kind: Literal["opened", "closed"]
    track: FaceTrack
    frames_seen: int


def analyse_faces(
    frames: Iterable[Frame],
    detector: FaceDetector,
    aligner: FaceAligner,
    embedder: FaceEmbedder,
    params: FaceParams,
) -> Iterator[TrackEvent]:
    tracker = FaceTracker(params.tracker)
    cache: dict[tuple[int, int], Embedding] = {}
    announced: set[int] = set()
    n = 0

    def with_embeddings(track: FaceTrack, k: int) -> FaceTrack:
        rows = []
        for sample in track.samples[:k]:
            key = (track.track_index, sample.detection.frame_index)
            if key not in cache:
                cache[key] = embed_sample(sample, embedder)
            rows.append(cache[key])
        return dataclasses.replace(track, embeddings=np.stack(rows).astype(np.float32))

    for frame in frames:
        n += 1
        detections = detect_faces(frame, detector, aligner, params.detect_scale, params.min_face_px)
        for track in tracker.update(frame, detections):
            yield TrackEvent("closed", with_embeddings(track, params.embed_per_track), n)
        for track in tracker.open_tracks():
            if track.track_index not in announced and track.n_detections >= params.early_after:
                announced.add(track.track_index)
                yield TrackEvent("opened", with_embeddings(track, 1), n)
    for track in tracker.finish():
        yield TrackEvent("closed", with_embeddings(track, params.embed_per_track), n)
