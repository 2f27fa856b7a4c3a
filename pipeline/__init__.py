"""Pure stages: arrays and values in, new values out. No files, settings, network or threads."""

from pipeline.analysis import FaceParams, TrackEvent, analyse_faces
from pipeline.errors import EvidenceError, InvalidMedia, InvalidReference, ModelUnavailable
from pipeline.faces import FaceAligner, FaceDetector, FaceEmbedder, detect_faces, embed_reference
from pipeline.tracking import FaceTracker, TrackerParams
from pipeline.types import FaceDetection, FaceTrack, Frame, MediaInfo, WatchlistCandidate, WatchlistSubject
from pipeline.watchlist import match_watchlist

__all__ = [
    "EvidenceError", "FaceAligner", "FaceDetection", "FaceDetector", "FaceEmbedder", "FaceParams",
    "FaceTrack", "FaceTracker", "Frame", "InvalidMedia", "InvalidReference", "MediaInfo",
    "ModelUnavailable", "TrackEvent", "TrackerParams", "WatchlistCandidate",
    "WatchlistSubject", "analyse_faces", "detect_faces", "embed_reference", "match_watchlist",
]
