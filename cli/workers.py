"""``evidence submit``, ``worker`` and ``reconcile``: evidence analysed by RQ workers on Redis
(EVIDENCE_REDIS_URL)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from cli.common import clean_errors, cli_actor, pass_runtime
from evidence.states import UPLOADERS
from pipeline.errors import EvidenceError

if TYPE_CHECKING:
    from rq import Queue

    from evidence.runtime import Runtime

# Redis, RQ and the jobs are imported when a command runs (not for --help).

__all__ = ["reconcile_cmd", "submit", "worker"]


def _queue(rt: Runtime) -> Queue:
    from redis.exceptions import RedisError

    from workers.queue import connect, make_queue

    if not rt.settings.redis_url:
        raise EvidenceError("no Redis configured: set EVIDENCE_REDIS_URL (or use `evidence process`)")
    redis = connect(rt.settings.redis_url)
    try:
        redis.ping()
    except RedisError as exc:
        raise EvidenceError(f"Redis at {rt.settings.redis_url} not reachable ({exc})") from exc
    return make_queue(redis, rt.settings.queue_name)


@click.command()
@click.argument("clip", type=click.Path(path_type=Path))
@click.option("--incident", help="incident reference to attach the clip to (created if new)")
@pass_runtime
@clean_errors
def submit(rt: Runtime, clip: Path, incident: str | None) -> None:
    """Fingerprint and store CLIP, then queue its analysis for the workers (EVIDENCE_REDIS_URL)."""
    from evidence.db.tables import Evidence
    from evidence.work import ingest_clip
    from workers.queue import reconcile

    queue = _queue(rt)
    evidence_id = ingest_clip(rt, clip, incident, cli_actor(rt, *UPLOADERS))
    reconcile(rt, queue)  # enqueues its ingest (and anything else unfinished that nobody holds)
    with rt.sessions() as s:
        ev = s.get(Evidence, evidence_id)
        assert ev is not None
        state = ev.state
    click.echo(f"evidence {evidence_id} {state}")


@click.command()
@click.option("--queues", default=None, help="comma-separated queue names, taken in that order (default: the senders' queue EVIDENCE_QUEUE_NAME-notify, then EVIDENCE_QUEUE_NAME)")
@click.option("--burst", is_flag=True, help="stop when the queues are empty")
@click.option("--threads", type=click.IntRange(1, 64), default=None,
              help="CPU threads per job for decoding and detection (default 1: start one worker per core)")
@pass_runtime
@clean_errors
def worker(rt: Runtime, queues: str | None, burst: bool, threads: int | None) -> None:
    """Run an RQ worker; it first re-queues unfinished work that nobody holds (`evidence reconcile`).
    Logs one JSON object a line (EVIDENCE_LOG_FORMAT=text for plain lines)."""
    from rq.serializers import JSONSerializer

    from evidence.logs import configure_logging
    from evidence.notify.bus import RedisBridge
    from workers.jobs import use_settings
    from workers.queue import (EvidenceWorker, enqueue_delivery, enqueue_due_deliveries, make_queue, notify_queue_name,
                               reconcile, schedule_retention)

    configure_logging(rt.settings.log_format)
    queue = _queue(rt)
    requeued = reconcile(rt, queue)
    if requeued:
        click.echo(f"re-queued evidence {', '.join(map(str, requeued))}", err=True)
    schedule_retention(queue)  # today's ANPR retention run (one per day, whoever starts first)
    enqueue_due_deliveries(rt, queue)  # the outbox's due deliveries (a sender lost with a worker or Redis)
    # A job that commits new deliveries (a potential match, a failed clip) queues their sender at once.
    def start_senders(groups: set[int]) -> None:
        for group in sorted(groups):
            enqueue_delivery(queue, group, rt.settings)

    rt.bus.start_senders(start_senders)
    rt.bus.listen(RedisBridge(rt.settings.redis_url or "").publish)  # the API's live feeds are pushed what jobs commit
    # The jobs run with these settings (each work-horse is forked from this process): one thread
    # each for decoding and detection unless told otherwise, so throughput scales by workers.
    fields = rt.settings.model_fields_set
    use_settings(rt.settings.model_copy(update={
        "detect_threads": threads or (rt.settings.detect_threads if "detect_threads" in fields else 1),
        "decode_threads": threads or (rt.settings.decode_threads if "decode_threads" in fields else 1)}), rt.bus)
    rt.faces.load()  # once, before RQ forks a work-horse per job
    rt.engine.dispose()  # no pooled connection crosses the fork
    names = queues.split(",") if queues else [notify_queue_name(rt.settings), rt.settings.queue_name]
    EvidenceWorker([make_queue(queue.connection, n) for n in names], connection=queue.connection,
           serializer=JSONSerializer).work(burst=burst, with_scheduler=True)


@click.command("reconcile")
@pass_runtime
@clean_errors
def reconcile_cmd(rt: Runtime) -> None:
    """Re-queue evidence that is unfinished and held by no live worker (after a crash or a Redis loss)."""
    from workers.queue import reconcile

    requeued = reconcile(rt, _queue(rt))
    click.echo(f"re-queued {len(requeued)} evidence item(s){': ' if requeued else ''}{', '.join(map(str, requeued))}")
