"""Pure stages: arrays and values in, new values out. No files, settings, network or threads.

The names below are re-exported lazily: importing ``pipeline`` (or a light stage such as
``pipeline.errors`` or ``pipeline.geo``) loads neither numpy nor OpenCV; ``from pipeline import X``
imports X's module when it is first asked for."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipeline.analysis import FaceParams, TrackEvent, analyse_faces
    from pipeline.errors import EvidenceError, InvalidMedia, InvalidReference, ModelUnavailable
    from pipeline.faces import FaceAligner, FaceDetector, FaceEmbedder, detect_faces, embed_reference
    from pipeline.tracking import FaceTracker, TrackerParams
    from pipeline.types import FaceDetection, FaceTrack, Frame, MediaInfo, WatchlistCandidate, WatchlistSubject
    from pipeline.watchlist import match_watchlist

_MODULE = {
    "analysis": ("FaceParams", "TrackEvent", "analyse_faces"),
    "errors": ("EvidenceError", "InvalidMedia", "InvalidReference", "ModelUnavailable"),
    "faces": ("FaceAligner", "FaceDetector", "FaceEmbedder", "detect_faces", "embed_reference"),
    "tracking": ("FaceTracker", "TrackerParams"),
    "types": ("FaceDetection", "FaceTrack", "Frame", "MediaInfo", "WatchlistCandidate", "WatchlistSubject"),
    "watchlist": ("match_watchlist",),
}
_WHERE = {name: module for module, names in _MODULE.items() for name in names}

__all__ = [
    "EvidenceError", "FaceAligner", "FaceDetection", "FaceDetector", "FaceEmbedder", "FaceParams",
    "FaceTrack", "FaceTracker", "Frame", "InvalidMedia", "InvalidReference", "MediaInfo",
    "ModelUnavailable", "TrackEvent", "TrackerParams", "WatchlistCandidate",
    "WatchlistSubject", "analyse_faces", "detect_faces", "embed_reference", "match_watchlist",
]


def __getattr__(name: str) -> object:
    """A re-exported name, imported from its stage on first use (PEP 562)."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"pipeline.{module}"), name)
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
