"""Soak with faults, in a force's topology on one machine: PostgreSQL, a Redis server of its own,
an S3-protocol server (moto, over HTTP; `--store local` for the file store), one `evidence serve`
and two `evidence worker`s, each with its own data directory. For `--minutes`: clips uploaded
every `--upload-every-s` (distinct bytes, two watchlist people in each), camera reads at
`--reads-per-s` in batches of 50, plate searches every second and a face search every 10 s; while
a worker is killed with SIGKILL every `--kill-every-s` (its supervisor, this script, starts
another at once) and Redis is killed and restarted empty `--redis-restarts` times. A request that
fails is sent again, as a camera or a phone would. Then the load stops and the system drains.

Checked at the end: every acknowledged upload is in the database and analysed (none lost); no
candidate twice for one track and subject, no camera read twice (and every acknowledged read
stored); `evidence audit verify` intact; the queues empty (GET /metrics).

    python benchmarks/soak_faults.py [--minutes 30] [--reads-per-s 500] [--kill-every-s 60] [--redis-restarts 2]

Last line: lost=... not_done=... duplicate_candidates=... subject_twice_on_a_clip=... duplicate_reads=...
reads_missing=... read_errors=... audit=intact|BROKEN queue_depth=..."""

from __future__ import annotations

import argparse
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from harness import EVIDENCE, admin_env, free_port  # noqa: E402
from served import S3Server  # noqa: E402
from samples.make_samples import DEMO_WATCHLIST, Appearance, build_watchlist, render_clip  # noqa: E402

SCRAPE_TOKEN = "soak-scrape-token-0123456789abcdef"  # GET /metrics needs it (issue 29)
POSTGRES_ADMIN = os.environ.get("EVIDENCE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
BATCH = 50


class Redis:
    def __init__(self) -> None:
        self.port, self.proc = free_port(), None

    def start(self) -> None:
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no"], stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True).returncode != 0:
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)

    def kill(self) -> None:
        if self.proc:
            self.proc.kill()
            self.proc.wait()


class Workers:
    """Two `evidence worker` processes, each in its own data directory; whatever ends one (SIGKILL
    here, a lost Redis) another is started at once, as systemd's Restart=always would."""

    def __init__(self, env: dict[str, str], root: Path, separate: bool) -> None:
        self.env, self.root, self.separate = env, root, separate
        self.procs: list[subprocess.Popen[bytes] | None] = [None, None]
        self.started = self.killed = self.exited = 0
        self.lock = threading.Lock()
        for i in range(2):
            self._start(i)

    def _start(self, i: int) -> None:
        log = (self.root / f"worker{i}.log").open("ab")
        env = {**self.env, "EVIDENCE_DATA_DIR": str(self.root / f"worker{i}")} if self.separate else self.env
        self.procs[i] = subprocess.Popen([EVIDENCE, "worker"], env=env, stdout=log, stderr=log, start_new_session=True)
        self.started += 1

    def kill_one(self, i: int) -> None:
        with self.lock:
            proc = self.procs[i]
            assert proc is not None
            os.killpg(proc.pid, signal.SIGKILL)  # the worker and the job it runs, mid-frame
            proc.wait()
            self.killed += 1
            self._start(i)

    def supervise(self) -> None:
        with self.lock:
            for i, proc in enumerate(self.procs):
                if proc is not None and proc.poll() is not None:
                    self.exited += 1
                    self._start(i)

    def stop(self) -> None:
        for proc in self.procs:
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)


def _send(client: httpx.Client, stats: dict[str, Any], name: str, method: str, url: str, **kw: Any) -> httpx.Response:
    """One request, sent again until it is answered with a non-5xx status (as a camera or a phone)."""
    for attempt in range(60):
        started = time.perf_counter()
        try:
            res = client.request(method, url, **kw)
        except httpx.TransportError:
            res = None
        stats.setdefault(f"{name} ms", []).append((time.perf_counter() - started) * 1000)
        if res is not None and res.status_code < 500:
            return res
        stats[f"{name} retried"] = stats.get(f"{name} retried", 0) + 1
        if res is not None:
            stats[f"{name} 5xx"] = stats.get(f"{name} 5xx", 0) + 1
        time.sleep(min(5.0, 0.2 * 2 ** attempt))
    raise RuntimeError(f"{name}: never answered")


def load(base: str, keys: dict[str, str], incident: int, clips: list[Path], face: bytes, args: argparse.Namespace,
         stop: threading.Event, stats: dict[str, Any]) -> list[threading.Thread]:
    auth = {role: {"Authorization": f"Bearer {k}"} for role, k in keys.items()}
    stats.update(uploads=[], reads_acked=0, searches=0)
    counting = threading.Lock()

    def reads(worker: int) -> None:
        with httpx.Client(base_url=base, timeout=30) as c:
            interval, n = 2 * BATCH / args.reads_per_s, 0
            next_at = time.monotonic()
            while not stop.is_set():
                at = datetime.now(UTC)
                batch = [{"camera_id": f"CAM-F{worker}", "vrm": f"SK{(n * BATCH + i) % 90 + 10}"
                          f"{''.join(random.choice('ABCDEFGHJKLMNPRSTUVWXYZ') for _ in range(3))}",
                          "timestamp": (at + timedelta(microseconds=i)).isoformat(), "confidence": 0.9}
                         for i in range(BATCH)]
                res = _send(c, stats, "camera batch", "POST", "/anpr/reads", json={"reads": batch},
                            headers=auth[f"CAM-F{worker}"])
                if res.status_code == 200:
                    with counting:
                        stats["reads_acked"] += BATCH - len(res.json()["errors"])
                        stats["read errors"] = stats.get("read errors", 0) + len(res.json()["errors"])
                n += 1
                next_at += interval
                time.sleep(max(0.0, next_at - time.monotonic()))

    def uploads() -> None:
        with httpx.Client(base_url=base, timeout=120) as c:
            i = 0
            while not stop.is_set():
                clip = clips[i % len(clips)].read_bytes()  # distinct bytes: see variants()
                res = _send(c, stats, "upload", "POST", f"/incidents/{incident}/evidence", headers=auth["uploader"],
                            files={"file": (f"VID_{i:04d}.mp4", clip, "video/mp4")})
                assert res.status_code == 201, res.text
                stats["uploads"].append((res.json()["id"], time.time()))
                i += 1
                stop.wait(args.upload_every_s)

    def searches() -> None:
        with httpx.Client(base_url=base, timeout=60) as c:
            t = 0
            while not stop.is_set():
                _send(c, stats, "plate search", "GET", "/search/plates", headers=auth["investigator"],
                      params={"q": random.choice(["SK1?ABC", "*ABC", "SK5*"]), "reason": "soak"})
                if t % 10 == 0:
                    _send(c, stats, "face search", "POST", "/search/faces", headers=auth["investigator"],
                          files={"photo": ("p.jpg", face, "image/jpeg")}, data={"reason": "soak"})
                stats["searches"] += 1
                t += 1
                stop.wait(1.0)

    threads = [threading.Thread(target=reads, args=(w,), daemon=True) for w in range(2)]
    threads += [threading.Thread(target=uploads, daemon=True), threading.Thread(target=searches, daemon=True)]
    for th in threads:
        th.start()
    return threads


def variants(src: Path, folder: Path, n: int) -> list[Path]:
    """n clips with the same pictures and distinct bytes (a comment tag each), so none is a duplicate."""
    out = []
    for i in range(n):
        path = folder / f"v{i}.mp4"
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(src), "-c", "copy", "-metadata",
                        f"comment=soak {uuid.uuid4().hex}", str(path)], check=True)
        out.append(path)
    return out


def metric(text: str, name: str, labels: str = "") -> float:
    m = re.search(rf"^{re.escape(name)}{re.escape(labels)} (\S+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--reads-per-s", type=float, default=500)
    ap.add_argument("--upload-every-s", type=float, default=20)
    ap.add_argument("--kill-every-s", type=float, default=60)
    ap.add_argument("--redis-restarts", type=int, default=2)
    ap.add_argument("--store", choices=["s3", "local"], default="s3")
    args = ap.parse_args()
    import psycopg
    from sqlalchemy import create_engine, text

    db = f"soak_{uuid.uuid4().hex[:8]}"
    admin = psycopg.connect(POSTGRES_ADMIN, autocommit=True)
    admin.execute(f'CREATE DATABASE "{db}"')
    url = POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{db}"
    redis, s3 = Redis(), S3Server() if args.store == "s3" else None
    redis.start()
    stats: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("EVIDENCE_")},
               **(s3.env("soak") if s3 else {"EVIDENCE_DATA_DIR": str(root / "shared")}),
               "EVIDENCE_DATABASE_URL": url, "EVIDENCE_REDIS_URL": f"redis://127.0.0.1:{redis.port}/0",
               "EVIDENCE_AUDIT_ANCHORS": str(root / "anchors.jsonl"), "EVIDENCE_LOG_FORMAT": "json",
               "EVIDENCE_METRICS_TOKEN": SCRAPE_TOKEN}
        local = (lambda name: env) if not s3 else (lambda name: {**env, "EVIDENCE_DATA_DIR": str(root / name)})
        subprocess.run([EVIDENCE, "db", "upgrade"], env=local("admin"), check=True)
        env = admin_env(env)  # every command below acts as a named administrator
        wl = build_watchlist(root / "wl", DEMO_WATCHLIST)
        subprocess.run([EVIDENCE, "watchlist", "import", str(wl)], env=local("admin"), check=True, capture_output=True)
        keys = {name: subprocess.run([EVIDENCE, "keys", "create", "--role", role, "--name", name], env=local("admin"),
                                     capture_output=True, text=True, check=True).stdout.split()[-1]
                for role, name in (("control_room", "control_room"), ("investigator", "investigator"),
                                   ("uploader", "uploader"), ("camera", "CAM-F0"), ("camera", "CAM-F1"))}
        people = [Appearance("Gordon_Brown", "Gordon_Brown_0006", 0.2, 3.5, (0.25, 0.5), (0.4, 0.5), (110, 100), True),
                  Appearance("Kim_Clijsters", "Kim_Clijsters_0008", 1.0, 4.0, (0.7, 0.45), (0.6, 0.45), (110, 120), True)]
        base_clip = render_clip(root / "base.mp4", people, 4.0, size_wh=(960, 540), seed=5)
        n_uploads = int(args.minutes * 60 / args.upload_every_s) + 2
        clips = variants(base_clip, root, n_uploads)
        face = (wl / "Gordon_Brown").iterdir().__next__().read_bytes()

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        api_log = (root / "api.log").open("ab")
        api = subprocess.Popen([EVIDENCE, "serve", "--port", str(port)], env=local("api"), stdout=api_log,
                               stderr=api_log, start_new_session=True)
        workers = Workers(env, root, separate=s3 is not None)
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if httpx.get(f"{base}/ready").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "never ready"
                time.sleep(0.2)
            incident = httpx.post(f"{base}/incidents", json={"reference": "SOAK-FAULTS"},
                                  headers={"Authorization": f"Bearer {keys['control_room']}"}).json()["id"]
            stop = threading.Event()
            started = time.monotonic()
            threads = load(base, keys, incident, clips, face, args, stop, stats)
            total_s = args.minutes * 60
            restarts_at = [total_s * (k + 1) / (args.redis_restarts + 1) for k in range(args.redis_restarts)]
            next_kill, k = args.kill_every_s, 0
            while (elapsed := time.monotonic() - started) < total_s:
                if elapsed >= next_kill:
                    workers.kill_one(k % 2)
                    k, next_kill = k + 1, next_kill + args.kill_every_s
                if restarts_at and elapsed >= restarts_at[0]:
                    restarts_at.pop(0)
                    redis.kill()
                    time.sleep(1.0)  # a second without Redis
                    redis.start()
                    stats["redis restarts"] = stats.get("redis restarts", 0) + 1
                workers.supervise()
                time.sleep(0.5)
            stop.set()
            for th in threads:
                th.join(120)
            load_s = time.monotonic() - started
            # Drain: until nothing is waiting or being analysed (workers still supervised).
            drain_started = time.monotonic()
            while True:
                text_m = httpx.get(f"{base}/metrics", timeout=30, headers={"Authorization": f"Bearer {SCRAPE_TOKEN}"}).text
                busy = sum(metric(text_m, "evidence_items", f'{{state="{s}"}}') for s in ("queued", "ingesting",
                                                                                        "analysing"))
                depth = sum(metric(text_m, "evidence_queue_depth", f'{{queue="{q}"}}') for q in ("evidence",))
                if busy == 0 and depth == 0:
                    break
                if time.monotonic() - drain_started > 1800:
                    print(f"not drained after 30 min: {busy} evidence busy, {depth} jobs queued")
                    break
                workers.supervise()
                time.sleep(1.0)
            drain_s = time.monotonic() - drain_started
            audit = subprocess.run([EVIDENCE, "audit", "verify"], env=local("admin"), capture_output=True, text=True)
        finally:
            workers.stop()
            os.killpg(api.pid, signal.SIGTERM)
            api.wait(30)
            redis.kill()
            if s3:
                s3.stop()

        engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
        with engine.connect() as conn:
            ids = [i for i, _ in stats["uploads"]]
            states = dict(conn.execute(text("SELECT id, state FROM evidence")).all())
            lost = sum(1 for i in ids if i not in states)
            not_done = sum(1 for i in ids if states.get(i) != "done")
            dup_cands = conn.execute(text("SELECT count(*) FROM (SELECT track_id, subject_id FROM candidates GROUP BY "
                                          "track_id, subject_id HAVING count(*) > 1) d")).scalar()
            # A subject twice on one clip (each person crosses it once): a job redone after a kill
            # that wrote its results again. (The same track and subject twice the schema refuses.)
            twice = conn.execute(text("SELECT count(*) FROM (SELECT evidence_id, subject_id FROM candidates "
                                      "WHERE review_state != 'superseded' GROUP BY evidence_id, subject_id "
                                      "HAVING count(*) > 1) d")).scalar()
            with_both = conn.execute(text("SELECT count(*) FROM (SELECT evidence_id FROM candidates GROUP BY evidence_id "
                                          "HAVING count(DISTINCT subject_id) = 2) e")).scalar()
            dup_reads = conn.execute(text("SELECT count(*) FROM (SELECT camera_id, vrm_read, read_at FROM anpr_reads "
                                          "GROUP BY 1, 2, 3 HAVING count(*) > 1) d")).scalar()
            reads = conn.execute(text("SELECT count(*) FROM anpr_reads WHERE camera_id LIKE 'CAM-F%'")).scalar()
            done_at = dict(conn.execute(text("SELECT e.id, min(v.at) FROM evidence e JOIN incident_events v ON "
                                             "v.kind = 'evidence.done' AND (v.data->>'evidence_id')::int = e.id "
                                             "GROUP BY e.id")).all())
        engine.dispose()
    admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    latency = [(done_at[i].replace(tzinfo=UTC).timestamp() - t) for i, t in stats["uploads"] if i in done_at]

    def pct(xs: list[float], q: float) -> str:
        return f"{statistics.quantiles(xs, n=100)[q - 1]:.0f}" if len(xs) > 2 else "-"

    batch_ms = stats.get("camera batch ms", [])
    print(f"| {args.minutes:g} min | {args.store} | uploads {len(ids)}, analysed {len(ids) - not_done}, with both "
          f"candidates {with_both} | upload to analysed p50 {pct(latency, 50)} s, p95 {pct(latency, 95)} s | "
          f"reads {stats['reads_acked'] / load_s:.0f}/s acked ({reads} stored) | batch POST p50 {pct(batch_ms, 50)} ms, "
          f"p99 {pct(batch_ms, 99)} ms | searches {stats['searches']} | workers killed {workers.killed}, exited on "
          f"their own {workers.exited} | Redis restarts {stats.get('redis restarts', 0)} | retried: "
          + ", ".join(f"{k[:-8]} {v}" for k, v in stats.items() if k.endswith(" retried")) + f" | drain {drain_s:.0f} s |")
    print(f"lost={lost} not_done={not_done} duplicate_candidates={dup_cands} subject_twice_on_a_clip={twice} "
          f"duplicate_reads={dup_reads} "
          f"reads_missing={stats['reads_acked'] - reads} read_errors={stats.get('read errors', 0)} audit={'intact' if audit.returncode == 0 else 'BROKEN'} "
          f"queue_depth={depth:g}")


if __name__ == "__main__":
    main()
