"""RQ wiring in one place: the queue (JSON serializer), job ids, timeout and retry policy, and
``reconcile`` — the database, not Redis, is the record of what must be done."""

from __future__ import annotations

from redis import Redis
from rq import Callback, Queue, Retry
from rq.job import Job
from rq.serializers import JSONSerializer
from sqlalchemy import or_, select, update

from evidence.db.tables import Evidence, utcnow
from evidence.runtime import Runtime

__all__ = ["connect", "enqueue_analysis", "job_id", "make_queue", "reconcile"]

RETRY = Retry(max=2, interval=[5, 30])  # then the evidence is `failed` with its reason


def connect(url: str) -> Redis:
    return Redis.from_url(url)


def make_queue(redis: Redis, name: str) -> Queue:
    return Queue(name, connection=redis, serializer=JSONSerializer)


def job_id(evidence_id: int, attempt: int) -> str:
    return f"analyse-{evidence_id}-{attempt}"


def enqueue_analysis(queue: Queue, evidence_id: int, attempt: int, job_timeout_s: int) -> Job:
    """One job per (evidence, attempt): re-enqueueing the same attempt is a no-op."""
    return queue.enqueue_call(
        "workers.jobs.analyse_job", args=(evidence_id,), job_id=job_id(evidence_id, attempt),
        timeout=job_timeout_s, retry=RETRY, unique=True, meta={"evidence_id": evidence_id},
        on_failure=Callback("workers.jobs.on_job_failure"), failure_ttl=7 * 24 * 3600,
    )


def reconcile(rt: Runtime, queue: Queue) -> list[int]:
    """Enqueue every evidence item that is unfinished and that nobody holds: queued items whose job
    Redis lost, and items whose runner died (its lease ran out). Returns their ids."""
    now = utcnow()
    unheld = or_(Evidence.lease_owner.is_(None), Evidence.lease_expires_at < now)
    with rt.sessions.begin() as s:
        rows = list(s.scalars(select(Evidence).where(Evidence.state.in_(("queued", "analysing")), unheld)))
        todo: list[tuple[int, int]] = []
        for ev in rows:
            job = queue.fetch_job(job_id(ev.id, ev.attempts))
            if job is not None and job.get_status(refresh=True) in ("queued", "deferred", "scheduled"):
                continue  # still waiting for a worker
            attempt = ev.attempts + 1
            s.execute(update(Evidence).where(Evidence.id == ev.id).values(attempts=attempt, state="queued"))
            todo.append((ev.id, attempt))
    for evidence_id, attempt in todo:
        enqueue_analysis(queue, evidence_id, attempt, rt.settings.job_timeout_s)
    return [e for e, _ in todo]
