"""What a process needs to do work, built once at the edge (CLI, app factory, worker) from Settings:
database sessions, the file store, the face models and the analysis parameters as plain values."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import cached_property

from sqlalchemy import Engine

from evidence.db import Sessions, check_schema, make_engine, migrate
from evidence.faceindex import FaceIndex
from evidence.filestore import FileStore
from evidence.notify import bus
from evidence.notify.outbox import after_commit
from evidence.settings import Settings
from models.centerface import CenterFaceDetector
from models.dlib_faces import FACE_MODEL_NAMES, DlibAligner, DlibEmbedder, DlibHogDetector
from models.ppocr import PPOCRDetector, PPOCRRecogniser, plate_model_versions
from models.registry import face_calibration, model_versions
from pipeline.analysis import FaceParams
from pipeline.platereading import PlateParams
from pipeline.watchlist import watchlist_threshold

__all__ = ["AnalysisConfig", "FaceModels", "PlateModels", "Runtime", "shared_face_models", "shared_plate_models"]


@dataclass(frozen=True)
class AnalysisConfig:
    fps: float
    face: FaceParams
    plates: bool
    plate_fps: float
    plate: PlateParams
    match_threshold: float | None
    match_fpir: float
    max_candidates: int
    workers: int
    face_detector: dict[str, object] = field(default_factory=dict)  # which detector found footage faces, as made

    @classmethod
    def from_settings(cls, s: Settings) -> AnalysisConfig:
        detector_min_px = CenterFaceDetector.min_face_px if s.face_detector == "centerface" else \
            DlibHogDetector.min_face_px
        return cls(s.sample_fps, FaceParams(min_face_px=s.min_face_px, detector_min_px=detector_min_px,
                                                  full_frame_every=s.full_frame_every), s.plates,
                   s.plate_fps,
                   PlateParams(min_confidence=s.plate_min_confidence), s.match_threshold, s.match_fpir,
                   s.max_candidates_per_track, s.detect_threads,
                   CenterFaceDetector().record() if s.face_detector == "centerface" else {"name": "dlib_hog_frontal_face"})

    def threshold_for(self, n_references: int) -> float:
        """The fixed threshold if configured, else the one derived for this many references."""
        if self.match_threshold is not None:
            return self.match_threshold
        return watchlist_threshold(n_references, self.match_fpir, face_calibration())

    def as_record(self) -> dict[str, object]:
        t = self.face.tracker
        return {"sample_fps": self.fps, "face_detector": self.face_detector, "min_face_px": self.face.min_face_px,
                "detector_min_px": self.face.detector_min_px,
                "detect_scale": round(self.face.detect_scale, 4),
                "full_frame_every": self.face.full_frame_every, "early_after": self.face.early_after,
                "embed_per_track": self.face.embed_per_track, "match_threshold": self.match_threshold,
                "match_fpir": self.match_fpir,
                "max_candidates": self.max_candidates, "plates": self.plates, "plate_fps": self.plate_fps,
                "plate": self.plate.as_record(), "tracker": {"max_gap_s": t.max_gap_s,
                "max_shift_widths": t.max_shift_widths, "max_size_ratio": t.max_size_ratio}}


@dataclass
class FaceModels:
    """The footage detector (CenterFace, or dlib's HOG; no upsampling: frames are scaled instead),
    the reference-photo detectors (HOG: enrolment photos are frontal; one upsample for small
    photos, none for large ones), the aligner and the embedder."""

    detector: CenterFaceDetector | DlibHogDetector = field(default_factory=CenterFaceDetector)
    reference_detector: DlibHogDetector = field(default_factory=lambda: DlibHogDetector(upsample=1))
    photo_detector: DlibHogDetector = field(default_factory=DlibHogDetector)
    aligner: DlibAligner = field(default_factory=DlibAligner)
    embedder: DlibEmbedder = field(default_factory=DlibEmbedder)

    @classmethod
    def for_settings(cls, kind: str, threads: int) -> FaceModels:
        return cls(detector=CenterFaceDetector(threads=threads) if kind == "centerface" else DlibHogDetector())

    def load(self) -> None:
        """Load every model now (a worker does it once, before it forks a process per job)."""
        _ = self.embedder.model
        self.aligner.load()
        self.detector.load()

    def warm_up(self) -> threading.Thread:
        """Load the models in the background (while a clip is hashed and probed); returns the thread."""
        thread = threading.Thread(target=lambda: (self.embedder.model, self.detector.load()), daemon=True)
        thread.start()
        return thread

    @property
    def versions(self) -> dict[str, str]:
        names = FACE_MODEL_NAMES + (["centerface"] if isinstance(self.detector, CenterFaceDetector) else [])
        return model_versions(names)

    @property
    def embedder_version(self) -> str:
        return self.versions["dlib_face_recognition_resnet_model_v1"]


class PlateModels:
    """The text detector and recogniser plates are read with (onnxruntime, loaded on first use)."""

    def __init__(self, max_side: int = 960, threads: int = 1) -> None:
        self.detector = PPOCRDetector(max_side=max_side, threads=threads)
        self.recogniser = PPOCRRecogniser(threads=threads)

    def load(self) -> None:
        self.detector.load()
        self.recogniser.load()

    @property
    def versions(self) -> dict[str, str]:
        return plate_model_versions()


_SHARED: dict[tuple[str, int], FaceModels] = {}
_SHARED_PLATES: dict[tuple[int, int], PlateModels] = {}


def shared_face_models(kind: str = "centerface", threads: int = 1) -> FaceModels:
    """The process's face models for these settings, loaded once however many Runtimes (jobs) it builds."""
    if (kind, threads) not in _SHARED:
        _SHARED[(kind, threads)] = FaceModels.for_settings(kind, threads)
    return _SHARED[(kind, threads)]


def shared_plate_models(max_side: int, threads: int) -> PlateModels:
    """The process's plate models for these settings, loaded once."""
    key = (max_side, threads)
    if key not in _SHARED_PLATES:
        _SHARED_PLATES[key] = PlateModels(max_side, threads)
    return _SHARED_PLATES[key]


def open_store(s: Settings) -> FileStore:
    """The local store (DATA_DIR/store), or the S3 bucket with its cache in DATA_DIR/cache."""
    if not s.store_url:
        return FileStore(s.store_dir)
    from evidence.objectstore import S3Store

    return S3Store(s.store_url, s.data_dir / "cache", endpoint_url=s.s3_endpoint_url, region=s.s3_region,
                   access_key_id=s.s3_access_key_id, secret_access_key=s.s3_secret_access_key,
                   cache_max_bytes=s.store_cache_max_bytes, lock_days=s.store_object_lock_days,
                   lock_mode=s.store_object_lock_mode)


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = open_store(settings)
        self.analysis = AnalysisConfig.from_settings(settings)
        self.faces = shared_face_models(settings.face_detector, settings.onnx_threads)
        self.plates = shared_plate_models(settings.plate_max_side, settings.onnx_threads)

    @cached_property
    def engine(self) -> Engine:
        engine = make_engine(self.settings.db_url)
        if self.settings.upgrades_on_start:
            migrate(engine)
        else:
            check_schema(engine)  # SchemaNotCurrent: `evidence db upgrade` first
        return engine

    @cached_property
    def face_index(self) -> FaceIndex:
        return FaceIndex(self.settings.data_dir / "index")

    @cached_property
    def sessions(self) -> Sessions:
        sessions = Sessions(self.engine)
        sessions.after_commit.append(after_commit)  # the outbox's senders are started once it commits
        sessions.after_commit.append(bus.after_commit)  # and the live feeds are pushed what it wrote
        return sessions
