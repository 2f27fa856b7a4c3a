"""Evidence packages made in the background (``export_jobs``): the person who starts one sees how
far it has got and downloads it when it is made; one package of an incident is made at a time, so
a second start (a double click, a colleague) is sent to the one being made. A job whose process
died stops counting as running once it has not moved for ``STALE``."""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from evidence.audit import Actor, append_audit
from evidence.db.export_tables import ExportJob
from evidence.db.tables import Incident
from evidence.errors import Conflict, EvidenceError, InvalidRequest, NotFound
from evidence.export import export_incident
from evidence.redaction import redactor_for
from evidence.runtime import Runtime
from evidence.utc import utcnow

__all__ = ["KEEP", "STALE", "ExportRunning", "export_job", "start_export"]

STALE = timedelta(minutes=5)  # a running job not heard from for this long has died with its process
KEEP = timedelta(hours=24)  # a made package is kept this long for its download


class ExportRunning(Conflict):
    """A package of this incident is already being made: ``job_id`` is that one."""

    def __init__(self, message: str, job_id: int) -> None:
        super().__init__(message)
        self.job_id = job_id


def _exports_dir(rt: Runtime) -> Path:
    path = rt.settings.data_dir / "exports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _sweep(rt: Runtime) -> None:
    """Jobs whose process died are failed; packages past their keeping are deleted."""
    now = utcnow()
    with rt.sessions.begin() as s:
        s.execute(update(ExportJob).where(ExportJob.state == "running", ExportJob.updated_at < now - STALE)
                  .values(state="failed", error="The export stopped (the server restarted): start it again",
                          finished_at=now))
        for job in s.scalars(select(ExportJob).where(ExportJob.state == "done", ExportJob.file_path.is_not(None),
                                                     ExportJob.finished_at < now - KEEP)):
            shutil.rmtree(Path(job.file_path).parent, ignore_errors=True)  # type: ignore[arg-type]
            job.file_path = None


def start_export(rt: Runtime, incident_id: int, actor: Actor, reason: str, redact: bool, plates: bool) -> int:
    """Start making the incident's package in the background; its job's id. ExportRunning (naming
    the job) if one of this incident is being made; InvalidRequest without a reason."""
    if not reason.strip():
        raise InvalidRequest("Give the reason for this export: it is recorded in the audit log")
    _sweep(rt)
    try:
        with rt.sessions.begin() as s:
            if s.get(Incident, incident_id) is None:
                raise NotFound(f"incident {incident_id} not found")
            running = s.scalar(select(ExportJob).where(ExportJob.incident_id == incident_id,
                                                       ExportJob.state == "running"))
            if running is not None:
                raise ExportRunning(f"A package of this incident is already being made (started by "
                                    f"{running.requested_by}): it is shown here", running.id)
            job = ExportJob(incident_id=incident_id, requested_by=actor.name, role=actor.role, reason=reason.strip(),
                            redact=redact or plates, redact_plates=plates)
            s.add(job)
            s.flush()
            job_id = job.id
            append_audit(s, actor, "export.start", f"incident:{incident_id}", reason.strip(),
                         {"job": job_id, "redact": redact or plates, "plates": plates})
    except IntegrityError:  # started at the same moment by someone else (the unique running index)
        with rt.sessions() as s:
            other = s.scalar(select(ExportJob.id).where(ExportJob.incident_id == incident_id,
                                                        ExportJob.state == "running"))
        raise ExportRunning("A package of this incident is already being made: it is shown here", other or 0) from None
    threading.Thread(target=_make, args=(rt, job_id, incident_id, actor, reason.strip(), redact or plates, plates),
                     name=f"export-{job_id}", daemon=True).start()
    return job_id


class _Reporter:
    """Writes the job's progress: evidence items done, and how far through the one being blurred."""

    def __init__(self, rt: Runtime, job_id: int) -> None:
        self.rt, self.job_id = rt, job_id
        self.done, self.total, self.step, self.written = 0, 1, "Starting", 0.0

    def items(self, done: int, total: int, step: str) -> None:
        self.done, self.total, self.step = done, max(1, total), step
        self._write(done / self.total, force=True)

    def frames(self, fraction: float) -> None:
        self._write((self.done + fraction) / self.total)

    def _write(self, progress: float, force: bool = False) -> None:
        if not force and time.monotonic() - self.written < 1.0:
            return
        self.written = time.monotonic()
        with self.rt.sessions.begin() as s:
            s.execute(update(ExportJob).where(ExportJob.id == self.job_id).values(
                progress=min(0.99, progress), step=self.step[:300], updated_at=utcnow()))


def _make(rt: Runtime, job_id: int, incident_id: int, actor: Actor, reason: str, redact: bool, plates: bool) -> None:
    out_dir = Path(tempfile.mkdtemp(dir=_exports_dir(rt)))
    report = _Reporter(rt, job_id)
    try:
        with rt.sessions() as s:
            reference = s.get(Incident, incident_id).reference  # type: ignore[union-attr]
        out = out_dir / f"incident-{reference}.zip"
        redactor = redactor_for(rt, actor, plates, on_frames=report.frames) if redact else None
        summary = export_incident(rt, incident_id, out, actor, reason, redactor, progress=report.items)
        with rt.sessions.begin() as s:
            s.execute(update(ExportJob).where(ExportJob.id == job_id).values(
                state="done", progress=1.0, step="Made", file_path=str(out), size_bytes=out.stat().st_size,
                manifest_sha256=summary.manifest_sha256, finished_at=utcnow(), updated_at=utcnow()))
    except BaseException as exc:
        shutil.rmtree(out_dir, ignore_errors=True)
        message = exc.message if isinstance(exc, EvidenceError) else "The export failed: start it again, and tell " \
            "an administrator if it fails again"
        with rt.sessions.begin() as s:
            s.execute(update(ExportJob).where(ExportJob.id == job_id).values(
                state="failed", error=message, finished_at=utcnow(), updated_at=utcnow()))
        if not isinstance(exc, Exception):
            raise


def _read_job(rt: Runtime, job_id: int) -> ExportJob:
    with rt.sessions() as s:
        job = s.get(ExportJob, job_id)
        if job is None:
            raise NotFound(f"There is no export {job_id}")
        s.expunge(job)
        return job


def export_job(rt: Runtime, job_id: int) -> ExportJob:
    """A job as it stands (a dead one failed first); NotFound if there is none. The progress page
    asks every two seconds: a read, and a write only when the job's process has died."""
    job = _read_job(rt, job_id)
    if job.state == "running" and job.updated_at < utcnow() - STALE:
        _sweep(rt)
        job = _read_job(rt, job_id)
    return job
