"""The one Settings object, read from the environment (prefix EVIDENCE_) at the edges only: the
CLI, the app factory and the worker entry point build it and pass plain values down."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EVIDENCE_", env_file=None, extra="ignore", env_ignore_empty=True)

    data_dir: Path = Field(Path("./data"), description="file store and the SQLite file")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default sqlite:///DATA_DIR/evidence.db")
    redis_url: str | None = Field(None, description="Redis for RQ workers; unset means in-process execution")

    sample_fps: float = Field(2.0, gt=0, le=30, description="frames analysed per second of video")
    min_face_px: float = Field(80.0, ge=20, description="smallest face width (pixels) to detect")
    # Watchlist alerts: the distance threshold is derived per watchlist from the measured
    # false-match curve (models/face_calibration.json) so that a face of someone *not* on the
    # list raises a candidate with probability ~match_fpir, however long the list
    # (benchmarks/RESULTS.md, watchlist identification). match_threshold fixes it instead.
    match_fpir: float = Field(0.005, gt=0, lt=1)
    match_threshold: float | None = Field(None, gt=0, lt=1.5, description="fixed distance threshold")
    detect_threads: int = Field(2, ge=1, le=64, description="threads running face detection per process")
    max_candidates_per_track: int = Field(3, ge=1)
    max_upload_bytes: int = Field(8 * 1024**3, gt=0)

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'evidence.db').resolve()}"

    @property
    def store_dir(self) -> Path:
        return self.data_dir / "store"
