"""What a process needs to do work, built once at the edge (CLI, app factory, worker) from Settings:
database sessions, the file store, the face models and the analysis parameters as plain values."""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import numpy.typing as npt
from sqlalchemy import Engine

from evidence.db import Sessions, check_schema, make_engine, migrate
from evidence.errors import ModelUnavailable
from evidence.faceindex import FaceIndex
from evidence.filestore import FileStore
from evidence.notify.bus import EventBus
from evidence.settings import Settings
from models.dlib_faces import DlibAligner, DlibEmbedder, DlibHogDetector
from models.registry import Catalogue, ModelEntry, catalogue
from pipeline.analysis import FaceParams
from pipeline.faces import FaceAligner, FaceDetector, FaceEmbedder
from pipeline.platereading import PlateLocaliser, PlateParams, PlateRecogniser
from pipeline.types import Embedding, RGBImage
from pipeline.watchlist import watchlist_threshold

__all__ = ["AnalysisConfig", "EmbedderProfile", "FaceModels", "PlateModels", "Runtime", "shared_face_models",
           "shared_plate_models"]


@dataclass(frozen=True)
class EmbedderProfile:
    """What comparing a face embedder's vectors needs: its name (recorded with every vector it
    made: vectors of two embedders are never compared), size, and the distances it is operated at,
    all from its manifest entry and calibration. A cosine embedder's thresholds are converted to
    the Euclidean distance of its unit vectors (d = sqrt(2 (1 - cos))): everything downstream
    compares vectors by Euclidean distance."""

    name: str
    provenance: str
    dimension: int
    metric: str
    fmr_curve: tuple[tuple[float, float], ...]  # (false-match rate, distance) pairs
    same_person: float  # the tracker's "same face after a gap"
    search: float  # face search: the farthest appearance listed
    people: float  # unknown faces: the mean distance that groups two tracks
    watchlist_bounds: tuple[float, float]  # the derived watchlist threshold stays within these

    @classmethod
    def from_entry(cls, entry: ModelEntry, models: Catalogue) -> EmbedderProfile:
        if entry.dimension is None or entry.metric not in ("euclidean", "cosine"):
            raise ModelUnavailable(f"face embedder {entry.name}: its manifest entry must give its dimension and "
                                   "metric (euclidean or cosine)")
        need = {"same_person", "search", "people", "watchlist_min", "watchlist_max"} - entry.thresholds.keys()
        if need:
            raise ModelUnavailable(f"face embedder {entry.name}: its manifest entry gives no thresholds "
                                   f"{', '.join(sorted(need))}")

        def d(t: float) -> float:
            return float(np.sqrt(2 * t)) if entry.metric == "cosine" else t

        t = entry.thresholds
        return cls(entry.name, entry.provenance, entry.dimension, entry.metric,
                   tuple((f, d(x)) for f, x in models.fmr_curve(entry)), d(t["same_person"]), d(t["search"]),
                   d(t["people"]), (d(t["watchlist_min"]), d(t["watchlist_max"])))


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
    embedder: EmbedderProfile | None = None
    search_max_distance: float = 0.6  # face search: the farthest appearance listed
    people_threshold: float = 0.5  # unknown faces: the mean distance that groups two tracks

    @classmethod
    def from_settings(cls, s: Settings, faces: FaceModels) -> AnalysisConfig:
        face = FaceParams(min_face_px=s.min_face_px, detector_min_px=faces.detector.min_face_px,
                          full_frame_every=s.full_frame_every)
        face = dataclasses.replace(face, tracker=dataclasses.replace(face.tracker,
                                                                     same_person_distance=faces.profile.same_person))
        return cls(s.sample_fps, face, s.plates, s.plate_fps, PlateParams(min_confidence=s.plate_min_confidence),
                   s.match_threshold, s.match_fpir, s.max_candidates_per_track, s.detect_threads,
                   faces.detector.record(), faces.profile, s.search_max_distance or faces.profile.search,
                   s.people_threshold or faces.profile.people)

    def threshold_for(self, n_references: int) -> float:
        """The fixed threshold if configured, else the one derived for this many references."""
        if self.match_threshold is not None:
            return self.match_threshold
        p = self.embedder
        assert p is not None
        return watchlist_threshold(n_references, self.match_fpir, p.fmr_curve, p.watchlist_bounds)

    def as_record(self) -> dict[str, object]:
        t = self.face.tracker
        return {"sample_fps": self.fps, "face_detector": self.face_detector, "min_face_px": self.face.min_face_px,
                "detector_min_px": self.face.detector_min_px,
                "detect_scale": round(self.face.detect_scale, 4),
                "full_frame_every": self.face.full_frame_every, "early_after": self.face.early_after,
                "embed_per_track": self.face.embed_per_track, "match_threshold": self.match_threshold,
                "match_fpir": self.match_fpir, "embedder": self.embedder.name if self.embedder else None,
                "max_candidates": self.max_candidates, "plates": self.plates, "plate_fps": self.plate_fps,
                "plate": self.plate.as_record(), "tracker": {"max_gap_s": t.max_gap_s,
                "max_shift_widths": t.max_shift_widths, "max_size_ratio": t.max_size_ratio,
                "same_person_distance": t.same_person_distance}}


def _default_embedder() -> FaceEmbedder:
    return DlibEmbedder()


@dataclass
class FaceModels:
    """The footage detector (CenterFace by default; frames are scaled to the faces wanted rather
    than upsampled), the reference-photo detectors (dlib's HOG: enrolment photos are frontal; one
    upsample for small photos, none for large ones), the aligner and the embedder, each the
    profile the settings name (``evidence models`` lists them)."""

    detector: FaceDetector = field(default_factory=lambda: catalogue().build("face_detector", "centerface"))
    reference_detector: DlibHogDetector = field(default_factory=lambda: DlibHogDetector(upsample=1))
    photo_detector: DlibHogDetector = field(default_factory=DlibHogDetector)
    aligner: FaceAligner = field(default_factory=DlibAligner)
    embedder: FaceEmbedder = field(default_factory=_default_embedder)
    models: Catalogue = field(default_factory=catalogue)

    @classmethod
    def for_settings(cls, s: Settings, models: Catalogue) -> FaceModels:
        # An embedder that ships an ONNX file beside its own runs where the settings say (the same vectors).
        embedder = models.build("face_embedder", s.face_embedder, s.onnx_threads, runtime=s.face_embedder_runtime)
        if _entry(embedder).metric == "cosine":
            embedder = UnitVectors(embedder)
        return cls(detector=models.build("face_detector", s.face_detector, s.onnx_threads),
                   aligner=models.build("face_aligner", s.face_aligner, s.onnx_threads), embedder=embedder,
                   models=models)

    def load(self) -> None:
        """Load every model now (a worker does it once, before it forks a process per job)."""
        for model in (self.embedder, self.aligner, self.detector):
            _load(model)

    def warm_up(self) -> threading.Thread:
        """Load the models in the background (while a clip is hashed and probed); returns the thread."""
        def load() -> None:
            _load(self.embedder)
            _load(self.detector)

        thread = threading.Thread(target=load, daemon=True)
        thread.start()
        return thread

    @property
    def entries(self) -> dict[str, ModelEntry]:
        """role -> the manifest entry of the model playing it."""
        out = {"face_detector": _entry(self.detector), "face_aligner": _entry(self.aligner),
               "face_embedder": _entry(self.embedder), "reference_detector": _entry(self.reference_detector)}
        ran = self.embedder_runs_in
        if ran is not None and ran[1] is not None:  # the ONNX file that ran the embedder's weights
            out["face_embedder_runtime"] = ran[1]
        return out

    @property
    def embedder_runs_in(self) -> tuple[str, ModelEntry | None] | None:
        """Where the embedder runs its weights: ("onnx", the ONNX file's entry) or ("dlib", None);
        None for an adapter that does not say (a force's own)."""
        inner = getattr(self.embedder, "inner", self.embedder)
        runtime = getattr(inner, "runtime", None)
        if runtime is None:
            return None
        entry = getattr(inner, "runtime_entry", None)
        return str(runtime), entry if isinstance(entry, ModelEntry) else None

    @property
    def versions(self) -> dict[str, str]:
        return {e.name: e.provenance for e in self.entries.values()}

    @cached_property
    def profile(self) -> EmbedderProfile:
        return EmbedderProfile.from_entry(_entry(self.embedder), self.models)

    @property
    def embedder_version(self) -> str:
        return self.profile.provenance


class UnitVectors:
    """A cosine embedder's vectors scaled to unit length: Euclidean distance between them then orders
    as cosine distance does (d = sqrt(2 (1 - cos))), which every comparison downstream uses."""

    def __init__(self, embedder: FaceEmbedder) -> None:
        self.inner, self.entry = embedder, _entry(embedder)

    def load(self) -> None:
        _load(self.inner)

    def embed(self, image: RGBImage, landmarks_xy: npt.NDArray[np.float32]) -> Embedding:
        v = self.inner.embed(image, landmarks_xy)
        return np.asarray(v / max(float(np.linalg.norm(v)), 1e-12), dtype=np.float32)


def _entry(model: object) -> ModelEntry:
    entry = getattr(model, "entry", None)
    if not isinstance(entry, ModelEntry):
        raise ModelUnavailable(f"{type(model).__name__} is not built from a manifest entry")
    return entry


def _load(model: object) -> None:
    load = getattr(model, "load", None)
    if callable(load):
        load()


class PlateModels:
    """The plate localiser and recogniser the settings name (onnxruntime, loaded on first use)."""

    def __init__(self, localiser: PlateLocaliser, recogniser: PlateRecogniser) -> None:
        self.detector, self.recogniser = localiser, recogniser

    @classmethod
    def for_settings(cls, s: Settings, models: Catalogue) -> PlateModels:
        return cls(models.build("plate_localiser", s.plate_localiser, s.onnx_threads, max_side=s.plate_max_side),
                   models.build("plate_recogniser", s.plate_recogniser, s.onnx_threads))

    def load(self) -> None:
        _load(self.detector)
        _load(self.recogniser)

    @property
    def entries(self) -> dict[str, ModelEntry]:
        return {"plate_localiser": _entry(self.detector), "plate_recogniser": _entry(self.recogniser)}

    @property
    def versions(self) -> dict[str, str]:
        return {e.name: e.provenance for e in self.entries.values()}

    def record(self) -> dict[str, object]:
        """How the models were run, recorded with what they found."""
        out: dict[str, object] = {}
        for role, model in (("localiser", self.detector), ("recogniser", self.recogniser)):
            record = getattr(model, "record", None)
            out[role] = record() if callable(record) else {"name": _entry(model).name}
        return out


_SHARED: dict[tuple[object, ...], FaceModels] = {}
_SHARED_PLATES: dict[tuple[object, ...], PlateModels] = {}
_SHARING = threading.Lock()  # two threads' first requests build one set of models


def shared_face_models(s: Settings, models: Catalogue) -> FaceModels:
    """The process's face models for these settings, loaded once however many Runtimes (jobs) it builds."""
    key = (s.face_detector, s.face_aligner, s.face_embedder, s.face_embedder_runtime, s.onnx_threads,
           tuple(s.model_manifests))
    with _SHARING:
        return _SHARED.get(key) or _SHARED.setdefault(key, FaceModels.for_settings(s, models))


def shared_plate_models(s: Settings, models: Catalogue) -> PlateModels:
    """The process's plate models for these settings, loaded once."""
    key = (s.plate_localiser, s.plate_recogniser, s.plate_max_side, s.onnx_threads, tuple(s.model_manifests))
    with _SHARING:
        return _SHARED_PLATES.get(key) or _SHARED_PLATES.setdefault(key, PlateModels.for_settings(s, models))


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
    """A process's settings, store, models, database and event bus. ``bus``: the one to share with
    other runtimes of the process (a worker's jobs each build a runtime; their commits reach the
    bus the worker listens on)."""

    def __init__(self, settings: Settings, bus: EventBus | None = None) -> None:
        self.settings = settings
        self.store = open_store(settings)
        self.bus = bus or EventBus()

    # The models are built when first used (a command that needs none, like `evidence models` with
    # a wrong name in the settings, still runs); a test may put others in their place.
    @cached_property
    def models(self) -> Catalogue:
        return catalogue(tuple(self.settings.model_manifests))

    @cached_property
    def faces(self) -> FaceModels:
        return shared_face_models(self.settings, self.models)

    @cached_property
    def plates(self) -> PlateModels:
        return shared_plate_models(self.settings, self.models)

    @cached_property
    def analysis(self) -> AnalysisConfig:
        return AnalysisConfig.from_settings(self.settings, self.faces)

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
        return FaceIndex(self.settings.data_dir / "index", self.faces.profile.name, self.faces.profile.dimension)

    @cached_property
    def sessions(self) -> Sessions:
        sessions = Sessions(self.engine)
        sessions.after_commit.append(self.bus.after_commit)  # senders started, live feeds pushed what it wrote
        return sessions
