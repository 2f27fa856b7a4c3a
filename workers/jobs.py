"""Jobs: module-level functions taking JSON-safe ids; each builds its Runtime at the edge, calls
the processing chain and persists idempotently. Safe to run twice, or twice at once (the lease)."""

from __future__ import annotations

import logging
from typing import Any

from rq import get_current_job

from evidence.processing import LeaseHeld, analyse_evidence
from evidence.runtime import Runtime
from evidence.settings import Settings
from pipeline.errors import InvalidMedia

__all__ = ["analyse_job", "on_job_failure"]

log = logging.getLogger(__name__)


def _report_progress(p: float) -> None:
    job = get_current_job()
    if job is not None and p - job.meta.get("progress", 0.0) >= 0.05:
        job.meta["progress"] = round(p, 3)
        job.save_meta()


def analyse_job(evidence_id: int) -> dict[str, Any]:
    """Analyse stored evidence. Bad media ends the evidence `failed` and the job *succeeds* (no
    retry can fix the bytes); another runner holding the evidence ends this job quietly."""
    try:
        summary = analyse_evidence(Runtime(Settings()), evidence_id, on_progress=_report_progress)
    except InvalidMedia as exc:
        return {"evidence_id": evidence_id, "state": "failed", "reason": exc.message}
    except LeaseHeld as exc:
        return {"evidence_id": evidence_id, "state": "held elsewhere", "reason": exc.message}
    return {"evidence_id": evidence_id, "state": "done", "tracks": summary.tracks, "frames": summary.frames,
            "first_candidate_s": summary.first_candidate_s}


def on_job_failure(job: Any, connection: Any, exc_type: Any, exc_value: Any, tb: Any) -> None:
    """RQ failure callback: keep the reason on the job (the evidence row already says `failed`)."""
    job.meta["failure"] = f"{exc_type.__name__}: {exc_value}"
    job.save_meta()
    log.warning("job %s failed: %s", job.id, job.meta["failure"])
