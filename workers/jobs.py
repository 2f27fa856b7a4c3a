"""Jobs: module-level functions taking JSON-safe ids; each builds its Runtime at the edge, calls
one step of the processing chain and persists idempotently. Safe to run twice, or twice at once
(the leases): the second run finds the work done, or held, and ends quietly."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from redis.exceptions import RedisError
from rq import Queue, get_current_job
from rq.serializers import JSONSerializer

from evidence.db.tables import Evidence
from evidence.metrics import record_job
from evidence.notify.deliver import deliver_group
from evidence.notify.bus import EventBus
from evidence.work import Hooks, LeaseHeld, fail_evidence, finalise_evidence, prepare_evidence, run_item
from evidence.runtime import Runtime
from evidence.states import EvidenceState, WorkState
from evidence.settings import Settings
from evidence.errors import InvalidMedia, NotFound
from workers.queue import enqueue_delivery, enqueue_graph, ensure_finalise

__all__ = ["deliver_job", "finalise_job", "ingest_job", "item_job", "on_job_failure", "retention_job", "use_settings"]

log = logging.getLogger(__name__)
_settings: list[Settings] = []  # the worker's, handed down to its forked work-horses
_bus: list[EventBus] = []  # the worker's event bus, likewise


F = TypeVar("F", bound=Callable[..., dict[str, Any]])


def _measured(kind: str) -> Callable[[F], F]:
    """Add the job's duration to the histogram of its kind in Redis (GET /metrics). An item job is
    measured by its item's kind (segment, quick pass, working copy)."""

    def wrap(fn: F) -> F:
        @wraps(fn)
        def run(*args: Any, **kwargs: Any) -> dict[str, Any]:
            started, out = time.monotonic(), None
            try:
                out = fn(*args, **kwargs)
                return out
            finally:
                job = get_current_job()
                if job is not None:
                    named = kind
                    if kind == "item":  # "segment 3 of evidence 7": the item's kind, failed or not
                        named = str(out["kind"]) if out and "kind" in out else (job.description or "item").split()[0]
                    ok = out is not None and out.get("state") != WorkState.FAILED  # bad media: failed too
                    record_job(job.connection, named, time.monotonic() - started, ok=ok)

        return run  # type: ignore[return-value]

    return wrap


def use_settings(settings: Settings, bus: EventBus | None = None) -> None:
    """The settings every job of this process (and of the work-horses it forks) runs with, and the
    bus their commits go to (the worker's: its Redis bridge and its senders' starter); set by
    `evidence worker` before it starts. A process that never calls it reads the environment."""
    _settings[:] = [settings]
    _bus[:] = [bus] if bus is not None else []


def _runtime() -> Runtime:
    return Runtime(_settings[0] if _settings else Settings(), _bus[0] if _bus else None)


def _report_progress(p: float) -> None:
    """Progress in the job's meta (the database has it too): best effort, Redis may be away."""
    job = get_current_job()
    if job is not None and p - job.meta.get("progress", 0.0) >= 0.05:
        job.meta["progress"] = round(p, 3)
        try:
            job.save_meta()  # type: ignore[no-untyped-call]
        except RedisError as exc:
            log.warning("progress of job %s not saved: %s", job.id, exc)


def _queue() -> Queue:
    job = get_current_job()
    assert job is not None, "called outside an RQ job"
    return Queue(job.origin, connection=job.connection, serializer=JSONSerializer)


@_measured("ingest")
def ingest_job(evidence_id: int) -> dict[str, Any]:
    """Check and plan stored evidence, then enqueue its work items and their finalise."""
    rt = _runtime()
    try:
        todo = prepare_evidence(rt, evidence_id, fail_on_error=False)
    except InvalidMedia as exc:  # no retry can fix the bytes: the evidence is `failed`, the job done
        return {"evidence_id": evidence_id, "state": EvidenceState.FAILED, "reason": exc.message}
    except LeaseHeld as exc:
        return {"evidence_id": evidence_id, "state": "held elsewhere", "reason": exc.message}
    jobs = enqueue_graph(rt, _queue(), evidence_id)
    return {"evidence_id": evidence_id, "state": EvidenceState.ANALYSING, "items": len(todo),
            "jobs": [j.id for j in jobs]}


@_measured("item")
def item_job(item_id: int) -> dict[str, Any]:
    """One work item (quick pass, segment, working copy). The one that completes its evidence's
    work makes sure a finalise will run."""
    rt = _runtime()
    try:
        done = run_item(rt, item_id, Hooks(on_progress=_report_progress), fail_on_error=False)
    except InvalidMedia as exc:
        return {"item_id": item_id, "state": WorkState.FAILED, "reason": exc.message}
    except (LeaseHeld, NotFound) as exc:
        return {"item_id": item_id, "state": "held elsewhere", "reason": exc.message}
    if done.all_done:
        with rt.sessions() as s:
            generation = s.get(Evidence, done.evidence_id).attempts  # type: ignore[union-attr]
        job = get_current_job()
        ensure_finalise(_queue(), done.evidence_id, generation, job.id if job else None, rt.settings)
    return {"item_id": item_id, "evidence_id": done.evidence_id, "kind": done.kind, "state": WorkState.DONE,
            "frames": done.frames}


@_measured("finalise")
def finalise_job(evidence_id: int) -> dict[str, Any]:
    """Stitch, re-match, mark done. Another finaliser holding the evidence raises LeaseHeld and RQ
    retries this job later; unfinished work ends it quietly (the last item enqueues another)."""
    done = finalise_evidence(_runtime(), evidence_id)
    return {"evidence_id": evidence_id, "state": "done" if done else "not ready"}


@_measured("retention")
def retention_job() -> dict[str, Any]:
    """Scheduled daily: delete camera reads past EVIDENCE_ANPR_RETENTION_DAYS, bystanders' face
    tracks past EVIDENCE_BYSTANDER_RETENTION_DAYS and expired watchlist subjects and lists, then
    anchor the audit chain (EVIDENCE_AUDIT_ANCHORS) so that a later truncation or rewrite is detected."""
    from evidence.anpr import purge_reads
    from evidence.audit import Actor, anchor_audit
    from evidence.retention import purge_bystanders
    from evidence.watchlist_lists import purge_expired

    rt = _runtime()
    if get_current_job() is not None:  # tomorrow's run first: nothing below may stop it
        from datetime import timedelta

        from evidence.utc import utcnow
        from workers.queue import schedule_retention

        schedule_retention(_queue(), utcnow() + timedelta(days=1))
    actor = Actor("retention", "system")
    done: dict[str, Any] = {}
    failed: list[Exception] = []
    for name, purge in (("deleted", purge_reads), ("tracks_deleted", purge_bystanders), ("watchlists", purge_expired)):
        try:  # one failing (the store unreachable) does not stop the others; the job then fails and is retried
            done[name] = purge(rt, actor)
        except Exception as exc:
            log.error("retention: %s failed: %s", name, exc)
            failed.append(exc)
    try:
        with rt.sessions.begin() as s:
            anchor_audit(s, rt.settings.audit_anchors_file, Actor("retention", "system"))
    except OSError as exc:
        log.error("could not write the audit anchor to %s: %s", rt.settings.audit_anchors_file, exc)
    if failed:
        raise failed[0]
    return done


purge_anpr_job = retention_job  # its name until issue 30: a day's run already queued under it still runs


@_measured("deliver")
def deliver_job(group: int) -> dict[str, Any]:
    """Send what the outbox holds for one recipient group (``evidence.notify.deliver``)."""
    job = get_current_job()
    if job is not None:
        job.connection.delete(f"evidence:deliver:{group}")  # what arrives from now on gets a job of its own
    rt = _runtime()
    sent, more = deliver_group(rt, group)
    if more and job is not None:  # a second's worth sent: behind the other recipients' senders for the rest
        enqueue_delivery(_queue(), group, rt.settings)
    return {"group": group, "delivered": sent, "more": more}


def on_job_failure(job: Any, connection: Any, exc_type: Any, exc_value: Any, tb: Any) -> None:
    """RQ failure callback (every failed run, and a job abandoned by a dead worker): keep the
    reason on the job; when no retry is left, the evidence ends `failed` with it — a poison job
    stops after its retry budget instead of looping."""
    reason = f"{exc_type.__name__}: {exc_value}" if exc_type else "failed"
    job.meta["failure"] = reason
    try:
        job.save_meta()
    except RedisError:
        pass
    final = not job.retries_left
    log.warning("job %s failed%s: %s", job.id, "" if final else " (will be retried)", reason)
    evidence_id = job.meta.get("evidence_id")
    if final and evidence_id is not None and not job.func_name.endswith("finalise_job"):
        fail_evidence(_runtime(), int(evidence_id), f"job {job.id} failed after its retries: {reason}")
