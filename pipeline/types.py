"""Values the stages hand each other. Conventions: boxes are ``xyxy`` float pixels in the upright
(rotation-applied) frame; times are seconds from the start of the clip (``*_s``); images are
``uint8`` RGB arrays of shape (H, W, 3)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "Box",
    "FaceDetection",
    "FaceSample",
    "FaceTrack",
    "Frame",
    "MediaInfo",
    "PlateDetection",
    "PlateRead",
    "PlateSighting",
    "WatchlistCandidate",
    "WatchlistSubject",
]

RGBImage = npt.NDArray[np.uint8]
Embedding = npt.NDArray[np.float32]
Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class MediaInfo:
    """What ffprobe says about a clip. ``size_wh`` is the stored size; ``display_wh`` applies the
    rotation (what a viewer and every stage sees)."""

    container: str
    codec: str
    duration_s: float
    size_wh: tuple[int, int]
    rotation_deg: int
    fps: float
    n_frames: int | None
    has_audio: bool
    creation_time: str | None
    location: str | None
    bit_rate: int | None

    @property
    def display_wh(self) -> tuple[int, int]:
        w, h = self.size_wh
        return (h, w) if self.rotation_deg % 180 == 90 else (w, h)

    def as_record(self) -> dict[str, object]:
        """As stored (JSON): the fields, ``size_wh`` a list."""
        return {**{f.name: getattr(self, f.name) for f in fields(self)}, "size_wh": list(self.size_wh)}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> MediaInfo:
        """From ``as_record``'s JSON (extra keys ignored)."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in record.items() if k in known}
        values["size_wh"] = (int(record["size_wh"][0]), int(record["size_wh"][1]))
        return cls(**values)


@dataclass(frozen=True)
class Frame:
    """A decoded, upright frame. ``index`` counts sampled frames, ``t_s`` is presentation time."""

    index: int
    t_s: float
    image: RGBImage = field(repr=False, compare=False)


@dataclass(frozen=True)
class FaceDetection:
    """One face in one frame. ``landmarks_xy`` holds dlib's 5 points (eye corners and nose base) as a
    (5, 2) float array in frame pixels; ``quality`` is in [0, 1]."""

    t_s: float
    frame_index: int
    xyxy: Box
    score: float
    landmarks_xy: npt.NDArray[np.float32] = field(repr=False, compare=False)
    quality: float

    @property
    def width_px(self) -> float:
        return self.xyxy[2] - self.xyxy[0]


@dataclass(frozen=True)
class FaceSample:
    """A detection kept for embedding: the face region cut from the frame (with margin) and the
    landmarks in that cut's coordinates. ``crop_origin_xy`` is where the cut sat in the frame."""

    detection: FaceDetection
    crop: RGBImage = field(repr=False, compare=False)
    crop_origin_xy: tuple[int, int]

    @property
    def crop_landmarks_xy(self) -> npt.NDArray[np.float32]:
        ox, oy = self.crop_origin_xy
        return self.detection.landmarks_xy - np.array([ox, oy], dtype=np.float32)


@dataclass(frozen=True)
class FaceTrack:
    """One person's face followed across frames. ``samples`` are the best few detections (by
    quality, best first) with their crops; ``embeddings`` has one row per embedded sample."""

    track_index: int
    first_t_s: float
    last_t_s: float
    n_detections: int
    samples: tuple[FaceSample, ...]
    embeddings: npt.NDArray[np.float32] = field(repr=False, compare=False)
    first_xyxy: Box = (0.0, 0.0, 0.0, 0.0)  # the face's box when first and last seen
    last_xyxy: Box = (0.0, 0.0, 0.0, 0.0)

    @property
    def best(self) -> FaceSample:
        return self.samples[0]

    @property
    def quality(self) -> float:
        return self.samples[0].detection.quality


@dataclass(frozen=True)
class WatchlistSubject:
    """A watchlist subject's reference embeddings, shape (n_refs, dimension) float32."""

    subject_id: int
    name: str
    embeddings: npt.NDArray[np.float32] = field(repr=False, compare=False)


@dataclass(frozen=True)
class WatchlistCandidate:
    """A *potential* match of a face track to a subject: never an identification.

    ``distance`` is the track-to-subject distance (lower is closer); ``score`` = 1 - distance,
    clipped to [0, 1]; ``threshold`` is the distance threshold in force when it was raised."""

    track_index: int
    subject_id: int
    subject_name: str
    rank: int
    distance: float
    score: float
    threshold: float
    t_s: float


@dataclass(frozen=True)
class PlateRead:
    """A registration as read, and as the UK plate grammar repairs it (``pipeline.plates``)."""

    raw: str
    plate: str  # repaired (or the normalised read when no format fits)
    format: str | None
    valid: bool
    changed: int  # characters the repair changed
    region: str | None = None  # the plate's country (ISO 3166-1 alpha-2, "GB" for a UK plate); None: unknown


@dataclass(frozen=True)
class PlateDetection:
    """One plate read in one frame: where (``xyxy``), what, how sure (0..1)."""

    t_s: float
    xyxy: Box
    read: PlateRead
    confidence: float


@dataclass(frozen=True)
class PlateSighting:
    """One vehicle's plate followed over frames, its reads voted into one registration.
    ``alternatives`` are the other registrations read, best first, with their share of the vote."""

    index: int
    plate: str
    format: str | None
    valid: bool
    confidence: float  # the winner's share of the confidence-weighted vote, times its mean confidence
    alternatives: tuple[tuple[str, float], ...]
    first_t_s: float
    last_t_s: float
    n_reads: int
    best: PlateDetection  # the surest read of the winning registration (its frame gives the crops)
    reads: tuple[PlateDetection, ...] = field(default=(), repr=False)  # every read voted

    @property
    def region(self) -> str | None:
        """The plate's country as its surest read of the winning registration says."""
        return self.best.read.region
