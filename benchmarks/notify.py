"""Notifications out (issue 15): how soon a stored event reaches a webhook, and whether one receiver
that hangs holds up the others.

    python benchmarks/notify.py [--events 40] [--rate 1000] [--seconds 60]

Set-up: a Redis server of its own, a SQLite data directory, webhook receivers in this process
(HTTP on loopback, tests/receivers.py), RQ workers started as `evidence worker`. This process
plays the part of a job that commits events — as a worker's job does, it queues the sender the
moment its transaction commits (the starter `evidence worker` registers).

1. Latency, candidate stored -> webhook received (EVENTS events, 0.5 s apart, one idle worker):
   - woken: the committing process queues an RQ sender at once (what workers do);
   - the plain approach beside it: nothing queued at commit, the outbox found by `evidence
     serve`'s sweep (every 0.5 s), sent on the API's threads.
2. Load: RATE events a minute for SECONDS to 10 webhook subscribers on 2 workers, first all healthy,
   then with one that never answers (time-out 2 s): the healthy nine's delay from commit to receipt.
Targets (issue 15): p95 <= 1 s with an idle worker; the others do not fall behind."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from typing import Any
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.append(str(ROOT / "benchmarks"))  # after the project: benchmarks/workers.py is not the workers package

from harness import EVIDENCE, free_port, served  # noqa: E402

from tests.receivers import Receiver  # noqa: E402


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


class Redis:
    def __init__(self) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--save", "", "--appendonly", "no"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait()


def setup(data: Path, redis_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVIDENCE_")}
    env.update(EVIDENCE_DATA_DIR=str(data), EVIDENCE_WEBHOOK_ALLOW_PRIVATE="true", EVIDENCE_WEBHOOK_TIMEOUT_S="2",
               EVIDENCE_DELIVERY_BACKOFF_S="1", EVIDENCE_PLATES="false")
    if redis_url:
        env["EVIDENCE_REDIS_URL"] = redis_url
    for k in [k for k in os.environ if k.startswith("EVIDENCE_")]:
        del os.environ[k]
    for k, v in env.items():
        if k.startswith("EVIDENCE_"):
            os.environ[k] = v
    return env


def workers(env: dict[str, str], n: int) -> list[subprocess.Popen[bytes]]:
    procs = [subprocess.Popen([EVIDENCE, "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True) for _ in range(n)]
    time.sleep(6)  # each loads the face models before it takes a job
    return procs


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        os.killpg(p.pid, 15)
        p.wait()


def senders(queue: object, settings: object) -> object:
    """What `evidence worker` registers: a sender queued for each group a commit filled."""
    from workers.queue import enqueue_delivery

    def start(groups: set[int]) -> None:
        for g in sorted(groups):
            enqueue_delivery(queue, g, settings)  # type: ignore[arg-type]

    return start


def _payload(kind: str, i: int) -> dict[str, Any]:
    """A payload of ``kind`` as its producer writes it (the catalogue checks it)."""
    if kind == "evidence.received":
        return {"evidence_id": i, "name": f"bench-{i}.mp4", "sha256": "0" * 64, "size_bytes": 1_000_000,
                "duration_s": 10.0, "by": "bench", "role": "control_room"}
    return {"candidate_id": i, "evidence_id": i, "subject": "Bench_Subject", "rank": 1, "score": 0.6,
            "distance": 0.4, "threshold": 0.5, "t_s": 1.0, "crop_t_s": 1.2, "track": 0, "model_version": "bench",
            "review_state": "pending", "reviewed_by": None, "watchlist": None, "subject_version": None,
            "authority": None, "crop_url": f"/candidates/{i}/crop"}


def commit_events(rt: object, kind: str, n: int, every_s: float, incident: int | None) -> dict[str, float]:
    """Commit ``n`` events ``every_s`` apart; {event id: commit time}."""
    from evidence.eventkinds import EventKind
    from evidence.events import add_event

    sessions = rt.sessions  # type: ignore[attr-defined]
    committed: dict[str, float] = {}
    start = time.monotonic()
    for i in range(n):
        with sessions.begin() as s:
            e = add_event(s, incident, EventKind(kind), _payload(kind, i + 1))
            eid = f"evt_{e.id}"
        committed[eid] = time.time()
        time.sleep(max(0.0, start + (i + 1) * every_s - time.monotonic()))
    return committed


def delays(receiver: Receiver, committed: dict[str, float]) -> list[float]:
    return [r.at - committed[r.event["id"]] for r in receiver.accepted() if r.event["id"] in committed]


def latency(args: argparse.Namespace) -> None:
    from evidence.audit import Actor
    from evidence.notify.subscriptions import create_subscription
    from evidence.runtime import Runtime
    from evidence.settings import Settings
    from workers.queue import connect, make_queue

    for mode in ("woken", "sweep"):
        with tempfile.TemporaryDirectory() as tmp:
            redis = Redis() if mode == "woken" else None
            env = setup(Path(tmp) / "data", redis.url if redis else None)
            rt = Runtime(Settings())
            hook = Receiver()
            create_subscription(rt, Actor("bench", "admin"), name="bench", purpose="subscriber", events=["candidate"],
                                channel="webhook", target=hook.url, filters={})
            if redis:
                queue = make_queue(connect(redis.url), rt.settings.queue_name)
                stop_starting = rt.bus.start_senders(senders(queue, rt.settings))
                procs = workers(env, 1)
                committed = commit_events(rt, "candidate", args.events, 0.5, None)
                hook.wait_for(args.events, timeout_s=60)
                stop(procs)
                stop_starting()
                redis.stop()
            else:
                with served(env):
                    committed = commit_events(rt, "candidate", args.events, 0.5, None)
                    hook.wait_for(args.events, timeout_s=60)
            d = delays(hook, committed)
            hook.close()
            label = ("woken at commit, RQ job on an idle worker" if mode == "woken"
                     else "plain: the API's sweep of the outbox (0.5 s)")
            print(f"  {label:<46} p50 {pct(d, .5) * 1000:5.0f} ms  p95 {pct(d, .95) * 1000:5.0f} ms  "
                  f"max {max(d) * 1000:5.0f} ms  ({len(d)} events)")


def load(args: argparse.Namespace, hanging: bool) -> None:
    from evidence.audit import Actor
    from evidence.notify.subscriptions import create_subscription
    from evidence.runtime import Runtime
    from evidence.settings import Settings
    from workers.queue import connect, make_queue

    with tempfile.TemporaryDirectory() as tmp:
        redis = Redis()
        env = setup(Path(tmp) / "data", redis.url)
        rt = Runtime(Settings())
        healthy = [Receiver() for _ in range(9)]
        stuck = Receiver(default="hang", hang_s=600) if hanging else Receiver()
        for r in [*healthy, stuck]:
            create_subscription(rt, Actor("bench", "admin"), name="bench", purpose="subscriber",
                                events=["evidence.received"], channel="webhook", target=r.url, filters={})
        queue = make_queue(connect(redis.url), rt.settings.queue_name)
        stop_starting = rt.bus.start_senders(senders(queue, rt.settings))
        procs = workers(env, 2)
        n = int(args.rate * args.seconds / 60)
        t0 = time.monotonic()
        committed = commit_events(rt, "evidence.received", n, 60 / args.rate, None)
        took = time.monotonic() - t0
        in_time = sum(len([x for x in delays(r, committed) if x <= 1.0]) for r in healthy)
        end = time.monotonic() + 60
        while time.monotonic() < end and sum(len(r.accepted()) for r in healthy) < 9 * n:
            time.sleep(0.5)
        d = [x for r in healthy for x in delays(r, committed)]
        stop(procs)
        stop_starting()
        from sqlalchemy import func, select

        from evidence.db.outbox_tables import Delivery

        with rt.sessions() as s:
            states = dict(s.execute(select(Delivery.state, func.count()).group_by(Delivery.state)).all())
        for r in [*healthy, stuck]:
            r.close()
        redis.stop()
        tenth = (f"the tenth hangs: {len(stuck.received)} attempts in {took:.0f} s, none answered"
                 if hanging else f"the tenth healthy too: {len(stuck.accepted())} received")
        print(f"  {'one of 10 hangs' if hanging else 'all 10 healthy':<16} {n} events in {took:.1f} s; the nine: "
              f"{len(d)}/{9 * n} delivered, delay p50 {pct(d, .5) * 1000:.0f} ms, p95 {pct(d, .95) * 1000:.0f} ms, "
              f"max {max(d) * 1000:.0f} ms, within 1 s {in_time / (9 * n):.1%} (during the run); {tenth}; "
              f"outbox {states}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=40)
    ap.add_argument("--rate", type=float, default=1000, help="events a minute in the load phase")
    ap.add_argument("--seconds", type=float, default=60)
    args = ap.parse_args()
    print(f"{os.cpu_count()} CPUs; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"candidate stored -> webhook received ({args.events} candidates, 0.5 s apart):")
    latency(args)
    print(f"{args.rate:.0f} events a minute for {args.seconds:.0f} s to 10 webhook subscribers, 2 RQ workers:")
    load(args, hanging=False)
    load(args, hanging=True)


if __name__ == "__main__":
    main()
