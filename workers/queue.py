"""RQ wiring in one place: the queue (JSON serializer), the job graph of an evidence item, job ids,
timeout and retry policy, and ``reconcile`` — the database, not Redis, is the record of what must
be done.

The graph: ``ingest`` (hash check, key frames, plan) enqueues the work items — the keyframe quick
pass at the front of the queue, the time segments, the working copy — and a ``finalise`` that
``depends_on`` all of them. Workers take items in parallel. When the graph breaks (a worker killed,
Redis restarted and empty), ``reconcile`` re-enqueues what the database says is unfinished and
unheld, and the item that completes the evidence's work enqueues a finalise itself if the one RQ
holds can no longer run."""

from __future__ import annotations

import logging
import sys
import time
import uuid
from datetime import datetime, timedelta
from multiprocessing.context import ForkProcess
from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from rq import Callback, Queue, Retry, Worker
from rq import scheduler as rq_scheduler
from rq.defaults import DEFAULT_LOGGING_DATE_FORMAT, DEFAULT_LOGGING_FORMAT
from rq.job import Dependency, Job
from rq.serializers import JSONSerializer
from sqlalchemy import or_, select, update

from evidence.db import rows_changed
from evidence.db.tables import Evidence, WorkItem
from evidence.notify.deliver import due_groups
from evidence.utc import utcnow
from evidence.work import work_order
from evidence.runtime import Runtime
from evidence.states import EvidenceState, WorkKind, WorkState
from evidence.settings import Settings

__all__ = ["EvidenceWorker", "RQWorkQueue", "connect", "enqueue_delivery", "notify_queue_name", "enqueue_due_deliveries",
           "enqueue_graph", "enqueue_ingest", "ensure_finalise", "finalise_job_id",
           "ingest_job_id", "item_job_id", "make_queue", "reconcile", "schedule_retention"]

log = logging.getLogger(__name__)

FINALISE_RETRY = Retry(max=10, interval=[2, 5, 10, 30, 60])  # waits out another finaliser's lease
WAITING = ("queued", "deferred", "scheduled")


def connect(url: str) -> Redis:
    return Redis.from_url(url)


def make_queue(redis: Redis, name: str) -> Queue:
    return Queue(name, connection=redis, serializer=JSONSerializer)


def ingest_job_id(evidence_id: int, generation: int) -> str:
    return f"ingest-{evidence_id}-{generation}"


def item_job_id(item_id: int, attempt: int) -> str:
    return f"item-{item_id}-{attempt}"


def finalise_job_id(evidence_id: int, generation: int) -> str:
    return f"finalise-{evidence_id}-{generation}"


def _common(evidence_id: int, settings: Settings) -> dict[str, object]:
    """Every job: a retry per back-off step (then the evidence is `failed` with the reason), the
    evidence id in its meta, the failure callback, failed jobs kept a week."""
    backoff = settings.retry_backoff_s
    retry = Retry(max=len(backoff), interval=backoff) if backoff else None
    return {"retry": retry, "meta": {"evidence_id": evidence_id}, "failure_ttl": 7 * 24 * 3600,
            "on_failure": Callback("workers.jobs.on_job_failure")}


def enqueue_ingest(queue: Queue, evidence_id: int, generation: int, settings: Settings) -> Job:
    """One ingest job per (evidence, generation): re-enqueueing the same generation is a no-op."""
    return queue.enqueue_call("workers.jobs.ingest_job", args=(evidence_id,),
                              job_id=ingest_job_id(evidence_id, generation), timeout=settings.job_timeout_s,
                              unique=True, **_common(evidence_id, settings))  # type: ignore[arg-type]


def _enqueue_item(queue: Queue, item: WorkItem, settings: Settings) -> Job:
    # A segment (faces and plates) is bounded by the segment length; the quick pass and the working copy cover the
    # whole clip (hours of body-worn footage): their timeout grows with it.
    span = (item.end_s or 0.0) - item.start_s if item.kind not in (WorkKind.SEGMENT, WorkKind.PLATES) else 0.0
    timeout = max(settings.job_timeout_s, int(10 * span))
    return queue.enqueue_call("workers.jobs.item_job", args=(item.id,), job_id=item_job_id(item.id, item.attempts),
                              timeout=timeout, at_front=item.kind == WorkKind.QUICK,
                              description=f"{item.kind} {item.index} of evidence {item.evidence_id}",
                              **_common(item.evidence_id, settings))  # type: ignore[arg-type]


def _enqueue_finalise(queue: Queue, evidence_id: int, job_id: str, depends_on: list[Job] | None,
                      settings: Settings) -> Job:
    deps = Dependency(jobs=depends_on, allow_failure=True) if depends_on else None
    common = {**_common(evidence_id, settings), "retry": FINALISE_RETRY}
    return queue.enqueue_call("workers.jobs.finalise_job", args=(evidence_id,), job_id=job_id, timeout=600,
                              depends_on=deps, **common)  # type: ignore[arg-type]


def _claim(rt: Runtime, items: list[WorkItem]) -> list[WorkItem]:
    """Count a new attempt on each item (compare-and-set: of two reconcilers one wins an item)."""
    claimed = []
    with rt.sessions.begin() as s:
        for item in items:
            res = s.execute(update(WorkItem).where(WorkItem.id == item.id, WorkItem.attempts == item.attempts)
                            .values(attempts=item.attempts + 1))
            if rows_changed(res) == 1:
                item.attempts += 1
                claimed.append(item)
    return claimed


def enqueue_graph(rt: Runtime, queue: Queue, evidence_id: int) -> list[Job]:
    """After ingest: every unfinished work item, then a finalise that depends on them all."""
    with rt.sessions() as s:
        ev = s.get(Evidence, evidence_id)
        assert ev is not None
        generation = ev.attempts
        items = list(s.scalars(select(WorkItem).where(WorkItem.evidence_id == evidence_id,
                                                      WorkItem.state != WorkState.DONE)))
    jobs = [_enqueue_item(queue, item, rt.settings) for item in sorted(_claim(rt, items), key=work_order)]
    return [*jobs, _enqueue_finalise(queue, evidence_id, finalise_job_id(evidence_id, generation), jobs, rt.settings)]


def ensure_finalise(queue: Queue, evidence_id: int, generation: int, finished_job_id: str | None,
                    settings: Settings) -> None:
    """Called when an evidence item's work is all done (by the job that did the last of it, or by
    ``reconcile``): make sure a finalise will run. The graph's own finalise runs by itself when
    this job is one of its dependencies; otherwise (its dependencies include a dead job, or Redis
    lost it) a fresh one is enqueued."""
    main = queue.fetch_job(finalise_job_id(evidence_id, generation))
    status = main.get_status(refresh=True) if main is not None else None
    if main is not None and status == "deferred" and finished_job_id in main.dependency_ids:
        return
    if status in ("queued", "scheduled"):
        return
    if main is not None and status == "deferred":
        main.cancel()
    _enqueue_finalise(queue, evidence_id, f"{finalise_job_id(evidence_id, generation)}-{uuid.uuid4().hex[:8]}", None,
                      settings)


def _job_waiting_or_starting(queue: Queue, job_id: str, grace_s: float) -> bool:
    job = queue.fetch_job(job_id)
    if job is None:
        return False
    status = job.get_status(refresh=True)
    if status == "queued":
        # Its status says so, but a worker killed between taking it off the queue and starting it
        # leaves a "queued" job in no queue at all (the soak with faults found one): it is waiting
        # only if it is in the list. (A live worker taking it right now runs it twice: harmless.)
        return queue.connection.lpos(queue.key, job_id) is not None
    if status in WAITING:
        return True
    # Started but not yet holding its lease (loading): give it the lease period to take it.
    return status == "started" and job.started_at is not None and \
        utcnow() - job.started_at.replace(tzinfo=utcnow().tzinfo) < timedelta(seconds=grace_s)


def reconcile(rt: Runtime, queue: Queue) -> list[int]:
    """Enqueue every piece of unfinished work that nobody holds and no job is waiting for: ingests
    of queued evidence whose job Redis lost, work items whose runner died (lease lapsed), and the
    finalise of evidence whose items are all done. Returns the evidence ids it re-queued work for."""
    now = utcnow()
    grace = rt.settings.lease_s
    requeued: set[int] = set()
    with rt.sessions() as s:
        rows = list(s.scalars(select(Evidence).where(Evidence.state.in_(
            (EvidenceState.QUEUED, EvidenceState.INGESTING, EvidenceState.ANALYSING)))))
    for ev in rows:
        unheld = ev.lease_owner is None or (ev.lease_expires_at is not None and ev.lease_expires_at < now)
        if ev.state in (EvidenceState.QUEUED, EvidenceState.INGESTING):
            if not unheld or _job_waiting_or_starting(queue, ingest_job_id(ev.id, ev.attempts), grace):
                continue
            with rt.sessions.begin() as s:
                # Still as it was read (not ingested meanwhile, nobody holding it): only then re-queue.
                res = s.execute(update(Evidence).where(
                    Evidence.id == ev.id, Evidence.attempts == ev.attempts, Evidence.state == ev.state,
                    or_(Evidence.lease_owner.is_(None), Evidence.lease_expires_at < now))
                    .values(attempts=ev.attempts + 1, state=EvidenceState.QUEUED))
            if rows_changed(res) == 1:
                enqueue_ingest(queue, ev.id, ev.attempts + 1, rt.settings)
                requeued.add(ev.id)
            continue
        with rt.sessions() as s:
            lapsed = or_(WorkItem.lease_owner.is_(None), WorkItem.lease_expires_at < now)
            stale = list(s.scalars(select(WorkItem).where(WorkItem.evidence_id == ev.id, WorkItem.state != WorkState.DONE,
                                                          lapsed)))
            unfinished = s.scalar(select(WorkItem.id).where(WorkItem.evidence_id == ev.id, WorkItem.state != WorkState.DONE)
                                  .limit(1))
        stale = [i for i in stale if not _job_waiting_or_starting(queue, item_job_id(i.id, i.attempts), grace)]
        if stale:
            # The graph's finalise depends on a job that will never finish: cancel it; the job that
            # completes the work enqueues a fresh one (ensure_finalise).
            main = queue.fetch_job(finalise_job_id(ev.id, ev.attempts))
            if main is not None and main.get_status(refresh=True) == "deferred":
                main.cancel()
            for item in _claim(rt, stale):
                _enqueue_item(queue, item, rt.settings)
            requeued.add(ev.id)
        elif unfinished is None and unheld:
            ensure_finalise(queue, ev.id, ev.attempts, None, rt.settings)
            requeued.add(ev.id)
    return sorted(requeued)


def _scheduler_process(scheduler: rq_scheduler.RQScheduler) -> None:
    """RQ's scheduler process. An error that ends it (Redis gone while it looks for due retries)
    is logged by RQ through the worker's JSON log and raised again, and multiprocessing would then
    print the traceback a second time, raw, into that log: it ends with status 1 instead (the
    worker starts a new scheduler at its next round, as RQ does for any that ended)."""
    try:
        rq_scheduler.run(scheduler)  # type: ignore[no-untyped-call]
    except Exception:  # noqa: BLE001 - already logged by RQ, with its traceback
        sys.exit(1)


class EvidenceScheduler(rq_scheduler.RQScheduler):
    """RQ's scheduler (the retries' back-off), its process ending quietly on an error RQ logged."""

    def start(self) -> ForkProcess:
        self._status = self.Status.STARTED
        self._connection = None  # a Redis connection is not carried across the fork (as RQ's own start)
        process = ForkProcess(target=_scheduler_process, args=(self,), name="Scheduler")
        self._process = process  # type: ignore[assignment]  # RQ's annotation says None
        process.start()
        return process


class EvidenceWorker(Worker):
    """RQ's worker, registering itself again when Redis has lost its registration (restarted
    without persistence: RQ reconnects but registers only at start), so that /ready, /metrics and
    rq-dashboard count it again from its next heartbeat; its scheduler is EvidenceScheduler."""

    def _start_scheduler(self, burst: bool = False, logging_level: str | None = "INFO",
                         date_format: str = DEFAULT_LOGGING_DATE_FORMAT,
                         log_format: str = DEFAULT_LOGGING_FORMAT) -> None:
        """RQ's own (rq 3.0), with EvidenceScheduler."""
        self.scheduler = EvidenceScheduler(self.queues, connection=self.connection,
                                           logging_level=logging_level if logging_level is not None else self.log.level,
                                           date_format=date_format, log_format=log_format, serializer=self.serializer)
        self.scheduler.acquire_locks()  # type: ignore[no-untyped-call]
        if not self.scheduler.acquired_locks:
            return
        if burst:
            try:
                self.scheduler.register_birth()
                self.scheduler.enqueue_scheduled_jobs()  # type: ignore[no-untyped-call]
            finally:
                self.scheduler.release_locks()  # type: ignore[no-untyped-call]
                self.scheduler.register_death()
        else:
            self.scheduler.start()

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
        if pipeline is None and not self.connection.exists(self.key):
            log.warning("worker %s: Redis lost this worker's registration; registering again", self.name)
            self.register_birth()  # type: ignore[no-untyped-call]
        super().heartbeat(timeout, pipeline)


REDIS_MARK = "evidence:redis-alive"  # set by the API's watch; missing again means Redis lost its data
SWEEP_S = 60.0


class RQWorkQueue:
    """The workers' queue as the API sees it (``evidence.work.WorkQueue``): submitting evidence
    reconciles, which enqueues its ingest and anything else unfinished that nobody holds."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._next_sweep = 0.0

    def submit(self, evidence_id: int) -> None:
        try:
            reconcile(self.rt, make_queue(connect(self.rt.settings.redis_url or ""), self.rt.settings.queue_name))
        except RedisError as exc:  # the row is `queued`: every worker's reconcile picks it up
            log.warning("evidence %s stored and queued in the database; Redis unreachable: %s", evidence_id, exc)

    def deliver(self, group: int) -> None:
        try:
            enqueue_delivery(make_queue(connect(self.rt.settings.redis_url or ""), self.rt.settings.queue_name),
                             group, self.rt.settings)
        except RedisError as exc:  # the outbox keeps it: the next sweep asks again
            log.warning("deliveries to group %s wait in the outbox; Redis unreachable: %s", group, exc)

    def watch(self) -> None:
        try:
            conn = connect(self.rt.settings.redis_url or "")
            emptied = bool(conn.set(REDIS_MARK, "1", nx=True))  # gone: Redis restarted empty (or first look)
            if not emptied and time.monotonic() < self._next_sweep:
                return
            self._next_sweep = time.monotonic() + SWEEP_S
            queue = make_queue(conn, self.rt.settings.queue_name)
            requeued = reconcile(self.rt, queue)
            enqueue_due_deliveries(self.rt, queue)
            if emptied:
                schedule_retention(queue)  # the daily retention run lived in Redis too
            if requeued:
                log.warning("re-queued evidence %s%s", ", ".join(map(str, requeued)),
                            " (Redis had lost its queues)" if emptied else "")
        except RedisError as exc:
            log.warning("work not checked; Redis unreachable: %s", exc)
        except Exception:  # noqa: BLE001 - a watcher that dies would stop checking for good
            log.exception("checking for lost work failed")


def notify_queue_name(settings: Settings) -> str:
    """The senders' queue: workers take from it before the evidence queue (an alert must not wait
    behind an hour of footage); first in, first out among recipients."""
    return f"{settings.queue_name}-notify"


def enqueue_delivery(queue: Queue, group: int, settings: Settings) -> None:
    """A sender job for one recipient group on the senders' queue (on ``queue``'s connection). At
    most one waits per group: a Redis key taken with NX, let go by the job as it starts (so what
    arrives while it runs gets a job of its own) or after 30 s (a job lost with its worker)."""
    if not queue.connection.set(f"evidence:deliver:{group}", "1", nx=True, ex=30):
        return
    make_queue(queue.connection, notify_queue_name(settings)).enqueue_call(
        "workers.jobs.deliver_job", args=(group,), job_id=f"deliver-{group}-{uuid.uuid4().hex[:12]}",
        timeout=int((settings.webhook_timeout_s + 1) * 60 + 60), result_ttl=0, failure_ttl=24 * 3600)


def enqueue_due_deliveries(rt: Runtime, queue: Queue) -> int:
    """Every group with a delivery due (after a crash or a Redis loss): a sender each."""
    groups = due_groups(rt)
    for group in groups:
        enqueue_delivery(queue, group, rt.settings)
    return len(groups)


def schedule_retention(queue: Queue, when: datetime | None = None) -> None:
    """Make sure a retention run is queued for the day: one job id per day, so every worker that
    starts that day asks for the same job; the run schedules the next day's itself."""
    from rq.exceptions import DuplicateJobError

    day = (when or utcnow()).strftime("%Y%m%d")
    try:
        if when is None:
            queue.enqueue_call("workers.jobs.retention_job", job_id=f"purge-anpr-{day}", unique=True,
                               result_ttl=2 * 24 * 3600)
        else:
            queue.enqueue_at(when, "workers.jobs.retention_job", job_id=f"purge-anpr-{day}",
                             result_ttl=2 * 24 * 3600)
    except DuplicateJobError:
        pass
