"""The one Settings object, read from the environment (prefix EVIDENCE_) at the edges only: the
CLI, the app factory and the worker entry point build it and pass plain values down."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EVIDENCE_", env_file=None, extra="ignore")

    data_dir: Path = Field(Path("./data"), description="file store and the SQLite file")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default sqlite:///DATA_DIR/evidence.db")
    redis_url: str | None = Field(None, description="Redis for RQ workers; unset means in-process execution")

    sample_fps: float = Field(2.0, gt=0, le=30, description="frames analysed per second of video")
    min_face_px: float = Field(80.0, ge=20, description="smallest face width (pixels) to detect")
    # Distance threshold of a track to a subject, from benchmarks/watchlist_identification.py on
    # LFW (benchmarks/RESULTS.md): 0.47 is where a 100-subject watchlist falsely alerts on ~1 % of
    # people not on it (one photo or a two-frame track), finding 66 % (one photo) to 92 % (track,
    # three enrolment photos) of those on it. 0.6 is a one-to-one threshold: 35 % false alerts.
    match_threshold: float = Field(0.47, gt=0, lt=1.5)
    detect_threads: int = Field(2, ge=1, le=64, description="threads running face detection per process")
    max_candidates_per_track: int = Field(3, ge=1)
    max_upload_bytes: int = Field(8 * 1024**3, gt=0)

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'evidence.db').resolve()}"

    @property
    def store_dir(self) -> Path:
        return self.data_dir / "store"
