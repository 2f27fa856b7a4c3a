"""What ``GET /metrics`` reports beyond the API process's own requests, read when it is scraped so
that every API process reports the same figures for the whole system:

- from the database: evidence by state, candidates by review state, hotlist hits, deliveries by state;
- from Redis (when workers are configured): jobs waiting per queue, live workers, and job durations
  by kind, which each worker adds to a histogram kept in Redis as its jobs end (``record_job``).

Readiness (``ready_checks``): the database reachable at this software's schema, Redis answering,
the store writable, and at least one worker alive (its RQ heartbeat) when work goes to workers."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from evidence.db import check_schema
from evidence.errors import EvidenceError
from evidence.db.outbox_tables import Delivery
from evidence.db.tables import CandidateRow, Evidence, IncidentEvent
from evidence.eventkinds import EventKind
from evidence.runtime import Runtime

__all__ = ["JOB_BUCKETS_S", "ReadyCheck", "SystemCollector", "queue_names", "ready_checks", "record_job"]

log = logging.getLogger(__name__)

# Seconds: a delivery or an ingest takes well under one, a 30 s segment 10-60, a working copy minutes.
JOB_BUCKETS_S = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0)
JOB_KEY = "evidence:metrics:job:"
JOB_KINDS = "evidence:metrics:job-kinds"  # the kinds recorded (a set): no scan of the keyspace


def queue_names(queue_name: str) -> list[str]:
    """The project's RQ queues: the senders' (taken first) and the evidence queue."""
    return [f"{queue_name}-notify", queue_name]


def record_job(redis: Redis, kind: str, seconds: float, ok: bool) -> None:
    """Add one finished job to the histogram of its kind, in Redis (every worker adds to the same)."""
    fields = {f"le:{b:g}": 1 for b in JOB_BUCKETS_S if seconds <= b}
    try:
        pipe = redis.pipeline(transaction=True)
        key = JOB_KEY + kind
        for name in fields:
            pipe.hincrby(key, name, 1)
        pipe.sadd(JOB_KINDS, kind)
        pipe.hincrby(key, "count", 1)
        pipe.hincrbyfloat(key, "sum", seconds)
        if not ok:
            pipe.hincrby(key, "failed", 1)
        pipe.execute()
    except RedisError as exc:  # a figure lost, never a job
        log.warning("job duration of %s not recorded: %s", kind, exc)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _job_histograms(redis: Redis) -> Iterator[Metric]:
    hist = HistogramMetricFamily("evidence_job_duration_seconds", "Duration of finished jobs by kind (all workers)",
                                 labels=["kind"])
    failed = CounterMetricFamily("evidence_jobs_failed", "Jobs that ended with an error, by kind", labels=["kind"])
    for kind in sorted(_text(k) for k in redis.smembers(JOB_KINDS)):
        raw = {_text(k): float(v) for k, v in redis.hgetall(JOB_KEY + kind).items()}
        buckets = [(f"{b:g}", raw.get(f"le:{b:g}", 0.0)) for b in JOB_BUCKETS_S] + [("+Inf", raw.get("count", 0.0))]
        hist.add_metric([kind], buckets, raw.get("sum", 0.0))
        failed.add_metric([kind], raw.get("failed", 0.0))
    yield hist
    yield failed


def live_workers(redis: Redis, queue_name: str) -> int:
    """RQ workers listening on the project's queues whose heartbeat is recent."""
    from rq import Worker

    names = set(queue_names(queue_name))
    return sum(1 for w in Worker.all(connection=redis) if names & set(w.queue_names()))


class SystemCollector:
    """A prometheus_client collector: the system's state, read at each scrape."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._redis: Redis | None = Redis.from_url(rt.settings.redis_url, socket_timeout=2) \
            if rt.settings.redis_url else None

    def describe(self) -> list[Metric]:
        return []  # figures come from the database and Redis when scraped: nothing to check at registration

    def collect(self) -> Iterator[Metric]:
        try:
            yield from self._database()
        except SQLAlchemyError as exc:  # the figures that can be read are still reported
            log.warning("metrics: database not reachable: %s", exc)
        if self._redis is not None:
            try:
                yield from self._queues(self._redis)
            except RedisError as exc:
                log.warning("metrics: Redis not reachable: %s", exc)

    def _database(self) -> Iterator[Metric]:
        rt = self.rt
        with rt.sessions() as s:
            by_state = {k: n for k, n in s.execute(select(Evidence.state, func.count()).group_by(Evidence.state))}
            reviews = {k: n for k, n in s.execute(select(CandidateRow.review_state, func.count())
                                                  .group_by(CandidateRow.review_state))}
            hits = s.scalar(select(func.count()).select_from(IncidentEvent).where(IncidentEvent.kind == EventKind.ANPR_HIT))
            deliveries = {k: n for k, n in s.execute(select(Delivery.state, func.count()).group_by(Delivery.state))}
        g = GaugeMetricFamily("evidence_items", "Evidence files by state", labels=["state"])
        for state in ("queued", "ingesting", "analysing", "done", "failed"):
            g.add_metric([state], by_state.get(state, 0))
        yield g
        c = GaugeMetricFamily("evidence_candidates", "Watchlist candidates by review state", labels=["review_state"])
        for state in ("pending", "confirmed", "rejected", "superseded"):
            c.add_metric([state], reviews.get(state, 0))
        yield c
        yield GaugeMetricFamily("evidence_hotlist_hits", "ANPR hotlist hits raised (kept camera reads)", value=hits or 0)
        d = GaugeMetricFamily("evidence_deliveries", "Notifications by delivery state (failed: given up)",
                              labels=["state"])
        for state in ("pending", "delivered", "failed"):
            d.add_metric([state], deliveries.get(state, 0))
        yield d

    def _queues(self, redis: Redis) -> Iterator[Metric]:
        from rq import Queue

        depth = GaugeMetricFamily("evidence_queue_depth", "Jobs waiting in each RQ queue", labels=["queue"])
        for name in queue_names(self.rt.settings.queue_name):
            depth.add_metric([name], Queue(name, connection=redis).count)
        yield depth
        yield GaugeMetricFamily("evidence_workers_live", "RQ workers alive on the project's queues",
                                value=live_workers(redis, self.rt.settings.queue_name))
        yield from _job_histograms(redis)


@dataclass(frozen=True)
class ReadyCheck:
    name: str
    ok: bool
    detail: str


def _timed(name: str, fn: Any) -> ReadyCheck:
    started = time.monotonic()
    try:
        detail = fn()
        return ReadyCheck(name, True, f"{detail} ({(time.monotonic() - started) * 1000:.0f} ms)")
    except Exception as exc:  # noqa: BLE001 - every failure is the answer, said plainly
        # The project's own messages say what to do; a driver's would name hosts and users: logged only.
        log.warning("readiness: %s: %s: %s", name, type(exc).__name__, exc)
        return ReadyCheck(name, False, getattr(exc, "message", None) or f"{type(exc).__name__} (see the log)")


def ready_checks(rt: Runtime) -> list[ReadyCheck]:
    """Whether this process can take work: the database at this software's schema, the store
    writable, and with workers configured Redis answering and at least one worker alive."""

    def database() -> str:
        check_schema(rt.engine)
        return "reachable, schema current"

    def store() -> str:
        return rt.store.check_writable()

    checks = [_timed("database", database), _timed("store", store)]
    if rt.settings.redis_url:
        redis = Redis.from_url(rt.settings.redis_url, socket_timeout=2, socket_connect_timeout=2)
        checks.append(_timed("redis", lambda: "answering" if redis.ping() else "no answer"))

        def workers() -> str:
            n = live_workers(redis, rt.settings.queue_name)
            if n == 0:
                raise EvidenceError("no live worker on the queues: uploads would wait (start `evidence worker`)")
            return f"{n} live"

        checks.append(_timed("workers", workers))
        redis.close()
    else:
        checks.append(ReadyCheck("workers", True, "in-process: this process analyses what it receives"))
    return checks
