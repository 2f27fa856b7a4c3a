"""Jobs: load by id, call the processing chain, persist. Each is safe to run twice."""

from __future__ import annotations

from evidence.processing import analyse_evidence
from evidence.runtime import Runtime
from evidence.settings import Settings

__all__ = ["analyse_job"]


def analyse_job(evidence_id: int) -> dict[str, float | int | None]:
    """Analyse stored evidence; a re-run replaces unreviewed results (idempotent)."""
    summary = analyse_evidence(Runtime(Settings()), evidence_id)
    return {"evidence_id": evidence_id, "tracks": summary.tracks, "frames": summary.frames,
            "first_candidate_s": summary.first_candidate_s}
