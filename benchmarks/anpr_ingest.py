"""ANPR ingest over real HTTP: cameras post batches of reads for a fixed time against a hotlist;
prints reads/s stored and the read-to-hit latency (post sent -> hit received on the incident's SSE
feed). The cameras and the control-room feed are separate processes (as they are separate
machines), so the load generator's own work does not delay the feed's timestamps, and the cameras
run at the lowest CPU priority, so it does not starve the server either.

    python benchmarks/anpr_ingest.py [--seconds 20] [--batch 50] [--clients 4] [--hotlist 1000]
    python benchmarks/anpr_ingest.py --database-url postgresql://postgres@127.0.0.1/anpr_bench
    python benchmarks/anpr_ingest.py --rate 2000 --batch 20 --compare   # pushed hits, then the plain poll

--compare runs the same load twice in one run: hits pushed to the feed as the batch commits (what
ships), then with EVIDENCE_FEED_PUSH=0 (the feed reads the events table when this process wakes it
and every 0.2 s: the design before issue 16).

With --rate the cameras offer that many reads a second in all (latency at a sustained load);
without, they post as fast as the server answers (throughput). 1 % of the reads are of hotlisted vehicles, a third of those misread (O/0, I/1, B/8). Last line:
reads_per_s=... p99_hit_ms=..."""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import multiprocessing
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness import EVIDENCE, served  # noqa: E402


def plate(rng: random.Random) -> str:
    L = "ABCDEFGHJKLMNPRSTUVWXY"
    return (rng.choice(L) + rng.choice(L) + f"{rng.randint(2, 75):02d}" + "".join(rng.choice(L) for _ in range(3)))


def listen(base: str, viewer: str, incident_id: int, results: Any) -> None:
    """The control room's feed, in its own process (the cameras' load must not delay the
    timestamp of a hit's arrival): (key, arrival time) of every hit, sent when terminated."""
    arrivals: list[tuple[str, float]] = []

    def report(*_: Any) -> None:
        results.put(arrivals)
        results.close()
        results.join_thread()  # flushed before the process ends
        os._exit(0)

    signal.signal(signal.SIGTERM, report)
    with httpx.stream("GET", f"{base}/incidents/{incident_id}/events", params={"max_s": 3600},
                      headers={"Authorization": f"Bearer {viewer}"}, timeout=httpx.Timeout(10, read=None)) as feed:
        for line in feed.iter_lines():
            if line.startswith("data: "):
                e = json.loads(line[6:])
                if e["kind"] == "anpr.hit":
                    arrivals.append((e["vrm_read"] + e["read_at"], time.time()))


def camera(i: int, base: str, key: str, hot: list[str], args: argparse.Namespace, stop_at: float,
           results: Any) -> None:
    """One camera (its own process, as cameras are separate machines): posts batches until
    ``stop_at``, at its share of --rate if given; reports (stored, {key: sent time}, end time,
    POST round trips). Cameras are other machines: here they run at the lowest CPU priority so
    that the load generator does not take the 2 cores from the server it measures."""
    os.nice(19)
    r = random.Random(i)
    headers = {"Authorization": f"Bearer {key}"}
    interval = args.batch * args.clients / args.rate if args.rate else 0.0
    next_at = time.time() + (interval * i / args.clients if interval else 0.0)
    sent_at: dict[str, float] = {}
    stored = 0
    posts: list[float] = []
    with httpx.Client(timeout=30) as client:
        while time.time() < stop_at:
            if interval:
                time.sleep(max(0.0, next_at - time.time()))
                next_at += interval
            reads = []
            for _ in range(args.batch):
                at = (datetime.now(UTC) - timedelta(microseconds=r.randint(0, 999_999))).isoformat()
                if r.random() < 0.01:
                    vrm = r.choice(hot)
                    if r.random() < 0.33:
                        vrm = vrm.replace("B", "8").replace("O", "0").replace("I", "1")
                else:
                    vrm = plate(r)
                reads.append({"camera_id": f"CAM-{i}", "timestamp": at, "vrm": vrm, "confidence": 0.9,
                              "direction": "N"})
            t = time.time()
            for rd in reads:
                sent_at[rd["vrm"] + rd["timestamp"]] = t
            stored += client.post(f"{base}/anpr/reads", json={"reads": reads}, headers=headers).json()["stored"]
            posts.append(time.time() - t)
    results.put((stored, sent_at, time.time(), posts))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--hotlist", type=int, default=1000)
    ap.add_argument("--database-url", default=None)
    ap.add_argument("--rate", type=float, default=0, help="offered reads/s in all (0: as fast as it goes)")
    ap.add_argument("--compare", action="store_true", help="also run with the push off (the plain poll)")
    args = ap.parse_args()
    lines = [run(args, push=True)]
    if args.compare:
        lines.append(run(args, push=False))
    print(f"machine: {os.cpu_count()} cores shared by the server, {args.clients} camera processes (nice 19) and the feed")
    for line in lines:
        print(line)
    print(lines[0].split("\n")[-1])


def run(args: argparse.Namespace, push: bool) -> str:
    from evidence.anpr import add_hotlist
    from evidence.audit import Actor
    from evidence.keys import create_key
    from evidence.work import get_or_create_incident
    from evidence.runtime import Runtime
    from evidence.settings import Settings

    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as data:
        env = {**os.environ, "EVIDENCE_DATA_DIR": data, "EVIDENCE_FEED_PUSH": "1" if push else "0"}
        env.pop("EVIDENCE_REDIS_URL", None)
        if args.database_url:
            env["EVIDENCE_DATABASE_URL"] = args.database_url
            subprocess.run([EVIDENCE, "db", "upgrade"], env=env, check=True)  # PostgreSQL: never on start
        else:
            env.pop("EVIDENCE_DATABASE_URL", None)
        rt = Runtime(Settings(data_dir=Path(data), database_url=args.database_url))
        admin = Actor("bench", "admin")
        with rt.sessions.begin() as s:
            incident_id = get_or_create_incident(s, "INC-ANPR-BENCH").id
        hot = [plate(rng) for _ in range(args.hotlist)]
        for vrm in hot:
            add_hotlist(rt, vrm, "benchmark", "wanted", incident_id, None, admin)
        cams = [create_key(rt, f"CAM-{i}", "camera", admin)[1] for i in range(args.clients)]
        viewer = create_key(rt, "desk", "control_room", admin)[1]
        ctx = multiprocessing.get_context("fork")
        results: Any = ctx.Queue()
        with served(env) as base:
            listener = ctx.Process(target=listen, args=(base, viewer, incident_id, results))
            listener.start()
            time.sleep(1.0)
            t0 = time.time()
            stop_at = t0 + args.seconds
            cameras = [ctx.Process(target=camera, args=(i, base, cams[i], hot, args, stop_at, results))
                       for i in range(args.clients)]
            for c in cameras:
                c.start()
            outcomes = [results.get() for _ in cameras]
            for c in cameras:
                c.join()
            wall = max(o[2] for o in outcomes) - t0
            time.sleep(1.0)  # the last hits reach the feed
            listener.terminate()
            arrivals = results.get(timeout=30)
            listener.join()
    stored = [sum(o[0] for o in outcomes)]
    sent_at = {k: v for o in outcomes for k, v in o[1].items()}
    hit_delays = [arrived - sent_at[key] for key, arrived in arrivals if key in sent_at]
    posts = sorted(p for o in outcomes for p in o[3])
    rate = stored[0] / wall
    hit_delays.sort()
    n = len(hit_delays)
    p50 = hit_delays[n // 2] * 1000 if n else float("nan")
    p99 = hit_delays[min(n - 1, int(0.99 * n))] * 1000 if n else float("nan")
    db = "PostgreSQL" if args.database_url else "SQLite"
    offered = f"offered {args.rate:.0f}/s, " if args.rate else ""
    mode = "pushed" if push else "plain poll"
    return (f"{db}, {mode}: {offered}{stored[0]} reads stored in {wall:.1f} s by {args.clients} cameras in batches of {args.batch}: "
          f"{rate:.0f} reads/s; {n} hotlist hits, read-to-hit p50 {p50:.0f} ms, p99 {p99:.0f} ms; "
          f"a batch's POST answered in p50 {posts[len(posts) // 2] * 1000:.0f} ms, "
          f"p99 {posts[min(len(posts) - 1, int(0.99 * len(posts)))] * 1000:.0f} ms\n"
          f"reads_per_s={rate:.0f} p99_hit_ms={p99:.0f} hits={n} mode={mode}")


if __name__ == "__main__":
    main()
