"""The job graph on RQ workers and a real redis-server: a >= 5-minute 720p clip with 1 and with 2
workers, in one run, beside ffmpeg's decode-only time and the in-process run of the same chain.

    python benchmarks/workers.py        # renders benchmarks/.cache/long_720p_300s.mp4 if missing
    python benchmarks/workers.py --clip X.mp4 --workers 1 2 --repeats 2

Rows (wall seconds; real-time factor = seconds of footage per wall second):
  decode-only      ffmpeg -i CLIP -f null -  with its own threads, and with -threads 1 (the
                   physical limit: every frame decoded)
  quick pass       the keyframe pass alone, in-process (the first alerts on long footage)
  in-process       evidence process CLIP (one process: ffmpeg's threads + one detection thread)
  N workers        evidence submit CLIP, then N `evidence worker` processes (one thread each, as
                   docs/operations.md says: a worker per core), until the evidence is `done`
  N workers pinned the same with worker i (and the ffmpeg it starts) pinned to core i by taskset:
                   one core per worker, so the speed-up measures how the graph parallelises and
                   not how much of a second core one worker already borrows for ffmpeg

"cores busy" is the machine's busy CPU time (/proc/stat) over the run divided by its wall time.

Every run starts from an empty database and store and imports the demo watchlist. The results
(tracks and candidates) of every run are compared: they must be identical."""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))

from harness import admin_env, describe_clip, ensure_samples, free_port  # noqa: E402


def base_env(data: str) -> dict[str, str]:
    env = {**os.environ, "EVIDENCE_DATA_DIR": data}
    for k in ("EVIDENCE_DATABASE_URL", "EVIDENCE_REDIS_URL", "EVIDENCE_DETECT_THREADS", "EVIDENCE_DECODE_THREADS"):
        env.pop(k, None)
    return admin_env(env)


def evidence(*args: str, env: dict[str, str]) -> str:
    res = subprocess.run([str(BIN / "evidence"), *args], env=env, capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"evidence {' '.join(args)} failed: {res.stderr[-2000:]}")
    return res.stdout


def busy_cpu_s() -> float:
    """Busy CPU seconds of the whole machine so far (every core, every process)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def results(data: str) -> tuple[str, tuple, tuple, float | None]:
    """(state, tracks, candidates, first candidate's created_at as a unix time) of evidence 1."""
    from sqlalchemy import select

    from evidence.db.tables import CandidateRow, Evidence, FaceTrackRow
    from evidence.runtime import Runtime
    from evidence.settings import Settings

    rt = Runtime(Settings(data_dir=Path(data)))
    with rt.sessions() as s:
        ev = s.get(Evidence, 1)
        tracks = tuple(sorted((t.segment, t.track_index, t.first_t_s, t.last_t_s, t.n_detections)
                              for t in s.scalars(select(FaceTrackRow))))
        cands = list(s.scalars(select(CandidateRow)))
        first = min((c.created_at.replace(tzinfo=UTC).timestamp() for c in cands), default=None)
        view = tuple(sorted((c.subject.name, c.track.track_index, round(c.distance, 4), c.review_state)
                            for c in cands))
    rt.engine.dispose()
    return (ev.state if ev else "missing"), tracks, view, first


def wait_done(data: str, deadline_s: float) -> None:
    """Poll the state with plain sqlite3 (cheap: the poll must not take CPU from the workers)."""
    import sqlite3

    end = time.monotonic() + deadline_s
    db = sqlite3.connect(Path(data) / "evidence.db", timeout=30)
    try:
        while time.monotonic() < end:
            row = db.execute("SELECT state FROM evidence WHERE id = 1").fetchone()
            if row and row[0] in ("done", "failed"):
                if row[0] == "failed":
                    raise SystemExit("evidence failed")
                return
            time.sleep(0.25)
    finally:
        db.close()
    raise SystemExit("timed out")


def run_workers(clip: Path, watchlist: Path, n: int, pin: bool) -> dict[str, object]:
    port = free_port()
    redis = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                              "--appendonly", "no"], stdout=subprocess.DEVNULL)
    workers: list[subprocess.Popen[bytes]] = []
    try:
        with tempfile.TemporaryDirectory() as data:
            env = {**base_env(data), "EVIDENCE_REDIS_URL": f"redis://127.0.0.1:{port}/0"}
            time.sleep(0.3)
            evidence("watchlist", "import", str(watchlist), env=env)
            ncpu = os.cpu_count() or 1
            workers = [subprocess.Popen([*(["taskset", "-c", str(i % ncpu)] if pin else []), str(BIN / "evidence"),
                                         "worker"], env=env, start_new_session=True,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for i in range(n)]
            time.sleep(3.0)  # workers up and idle (their start is not the clip's time)
            t0, cpu0 = time.time(), busy_cpu_s()
            evidence("submit", str(clip), env=env)
            wait_done(data, 3600)
            wall, cpu = time.time() - t0, busy_cpu_s() - cpu0
            state, tracks, cands, first = results(data)
            return {"wall": wall, "cores": cpu / wall, "tracks": tracks, "cands": cands,
                    "first": None if first is None else first - t0}
    finally:
        for w in workers:
            os.killpg(w.pid, signal.SIGKILL)
            w.wait()
        redis.kill()
        redis.wait()


def run_in_process(clip: Path, watchlist: Path) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as data:
        env = base_env(data)
        evidence("watchlist", "import", str(watchlist), env=env)
        t0, cpu0 = time.time(), busy_cpu_s()
        out = json.loads(evidence("process", str(clip), "--json", env=env))
        wall, cpu = time.time() - t0, busy_cpu_s() - cpu0
        _, tracks, cands, _ = results(data)
        return {"wall": wall, "cores": cpu / wall, "tracks": tracks, "cands": cands,
                "first": out["timing"]["first_candidate_s"]}


def run_quick_pass(clip: Path, watchlist: Path) -> tuple[float, dict[str, object]]:
    """Wall time of the quick pass work item alone (in-process), and what it reports."""
    from sqlalchemy import select

    from evidence.audit import Actor
    from evidence.db.tables import WorkItem
    from evidence.work import ingest_clip, prepare_evidence, run_item
    from evidence.runtime import Runtime
    from evidence.settings import Settings
    from evidence.watchlists import enrol, folder_enrolments

    with tempfile.TemporaryDirectory() as data:
        rt = Runtime(Settings(data_dir=Path(data), quick_pass_min_s=0))
        actor = Actor("benchmark", "admin")
        enrol(rt, folder_enrolments(watchlist), actor)
        eid = ingest_clip(rt, clip, None, actor)
        prepare_evidence(rt, eid)
        rt.faces.load()
        with rt.sessions() as s:
            item = s.scalar(select(WorkItem).where(WorkItem.evidence_id == eid, WorkItem.kind == "quick"))
            assert item is not None
        t = time.perf_counter()
        run_item(rt, item.id)
        wall = time.perf_counter() - t
        with rt.sessions() as s:
            result = s.get(WorkItem, item.id).result  # type: ignore[union-attr]
        rt.engine.dispose()
        return wall, result


def decode_only(clip: Path, threads: int | None) -> float:
    cmd = ["ffmpeg", "-nostdin", "-v", "error"] + (["-threads", str(threads)] if threads else [])
    t = time.perf_counter()
    subprocess.run([*cmd, "-i", str(clip), "-f", "null", "-"], check=True)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clip", type=Path, default=ROOT / "benchmarks" / ".cache" / "long_720p_300s.mp4")
    ap.add_argument("--watchlist", type=Path, default=ROOT / "samples" / "out" / "watchlist")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--no-pinned", action="store_true", help="skip the rows with a core per worker")
    ap.add_argument("--repeats", type=int, default=1, help="interleaved repeats; medians reported")
    ap.add_argument("--skip-in-process", action="store_true")
    ap.add_argument("--sparse-clip", type=Path, default=ROOT / "benchmarks" / ".cache" / "long_720p_300s_every30s.mp4",
                    help="a clip with fewer people for a second quick-pass row (skipped if missing)")
    args = ap.parse_args()
    ensure_samples(args.clip, ["--seconds", "300", "--height", "720"], args.watchlist)
    duration, clip_line = describe_clip(args.clip)
    print(f"{clip_line}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")

    rows: dict[str, list[float]] = {}
    seen: dict[str, dict[str, object]] = {}
    quick: dict[str, object] = {}
    quick_sparse: dict[str, object] = {}
    cores: dict[str, list[float]] = {}
    for _ in range(args.repeats):  # interleaved, so a noisy neighbour hits every row alike
        rows.setdefault("decode-only (ffmpeg threads)", []).append(decode_only(args.clip, None))
        rows.setdefault("decode-only (-threads 1)", []).append(decode_only(args.clip, 1))
        wall, quick = run_quick_pass(args.clip, args.watchlist)
        rows.setdefault("quick pass (in-process)", []).append(wall)
        if args.sparse_clip.exists():
            wall, quick_sparse = run_quick_pass(args.sparse_clip, args.watchlist)
            rows.setdefault("quick pass, sparse clip", []).append(wall)
        if not args.skip_in_process:
            r = run_in_process(args.clip, args.watchlist)
            rows.setdefault("in-process", []).append(r["wall"])  # type: ignore[arg-type]
            cores.setdefault("in-process", []).append(r["cores"])  # type: ignore[arg-type]
            seen["in-process"] = r
        for pin in (False, True)[: 1 if args.no_pinned else 2]:
            for n in args.workers:
                r = run_workers(args.clip, args.watchlist, n, pin)
                name = f"{n} worker{'s' if n > 1 else ''}{' pinned' if pin else ''}"
                rows.setdefault(name, []).append(r["wall"])  # type: ignore[arg-type]
                cores.setdefault(name, []).append(r["cores"])  # type: ignore[arg-type]
                seen[name] = r
    med = {k: statistics.median(v) for k, v in rows.items()}
    print(f"{'run':<30} {'wall s':>8} {'x real time':>12} {'cores busy':>11}  runs")
    for name, wall in med.items():
        busy = f"{statistics.median(cores[name]):.2f}" if name in cores else "-"
        print(f"{name:<30} {wall:8.2f} {duration / wall:12.1f} {busy:>11}  {', '.join(f'{w:.2f}' for w in rows[name])}")
    print(f"quick pass: {quick}")
    if args.sparse_clip.exists():
        print(f"quick pass, sparse clip ({args.sparse_clip.name}): {quick_sparse}")
    for name, r in seen.items():
        first = r["first"]
        pending = sorted({c[0] for c in r["cands"] if c[3] == "pending"})  # type: ignore[attr-defined]
        full = sum(1 for t in r["tracks"] if t[0] >= 0)  # type: ignore[attr-defined]
        print(f"{name}: {full} tracks + {len(r['tracks']) - full} quick-pass sightings, "  # type: ignore[arg-type]
              f"{len(r['cands'])} candidates "  # type: ignore[arg-type]
              f"(pending: {', '.join(pending)}); first candidate after "
              f"{'-' if first is None else f'{first:.1f} s'}")
    reference = next(iter(seen.values()))
    same = all((r["tracks"], r["cands"]) == (reference["tracks"], reference["cands"]) for r in seen.values())
    print(f"identical results across runs: {same}")
    speedup = ""
    if "1 worker" in med and "2 workers" in med:
        speedup = f" speedup_2_workers={med['1 worker'] / med['2 workers']:.3f}"
    if "1 worker pinned" in med and "2 workers pinned" in med:
        speedup += f" speedup_2_workers_pinned={med['1 worker pinned'] / med['2 workers pinned']:.3f}"
    rtf = " ".join(f"rtf_{k.replace(' ', '_')}={duration / w:.2f}" for k, w in med.items() if "worker" in k)
    print(f"decode_only_s={med['decode-only (ffmpeg threads)']:.2f} quick_pass_rtf={duration / med['quick pass (in-process)']:.1f}"
          f" {rtf}{speedup} identical={same}")


if __name__ == "__main__":
    main()
