"""Workers on a real redis-server (started here on a free port): submit, a worker killed with
SIGKILL mid-segment, and a Redis restart mid-run that loses the queue — every item still finishes
with exactly the results of an undisturbed run. The clips are cut into 5 s segments and get the
keyframe quick pass, so every job of the graph runs; a car crosses a cut, so the plate search
(in the segments, from their decode) and the joining of its sightings are checked the same way."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from evidence.db.tables import CandidateRow, Evidence, FaceTrackRow, PlateSightingRow, WorkItem
from evidence.runtime import Runtime
from evidence.settings import Settings
from conftest import fresh_data_dir, use_data_dir
from samples.make_samples import Appearance, Vehicle, render_clip
from tests.served import run

EVIDENCE = str(Path(sys.executable).parent / "evidence")
pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server not installed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    def __init__(self, port: int) -> None:
        self.port, self.proc = port, None

    def start(self) -> None:
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no"], stdout=subprocess.DEVNULL)
        for _ in range(100):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


@pytest.fixture
def redis_server():
    server = RedisServer(free_port())
    server.start()
    yield server
    server.stop()


WORKER_SETTINGS = {"EVIDENCE_LEASE_S": "3", "EVIDENCE_SEGMENT_S": "5", "EVIDENCE_QUICK_PASS_MIN_S": "0"}


@pytest.fixture
def worker_env(env, redis_server, monkeypatch):
    monkeypatch.setenv("EVIDENCE_REDIS_URL", f"redis://127.0.0.1:{redis_server.port}/0")
    for key, value in WORKER_SETTINGS.items():
        monkeypatch.setenv(key, value)
    return dict(os.environ)


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
    people = [Appearance("Gordon_Brown", "Gordon_Brown_0006", 0.5, 7.0, (0.2, 0.5), (0.6, 0.5), (120, 130), True),
              Appearance("Vaclav_Havel", "Vaclav_Havel_0002", 4.0, 11.0, (0.8, 0.4), (0.5, 0.5), (110, 130), False),
              Appearance("Kim_Clijsters", "Kim_Clijsters_0008", 8.0, 14.0, (0.3, 0.4), (0.6, 0.45), (120, 130), True)]
    car = [Vehicle("YR19KDF", "current", 2.5, 8.5, (0.1, 0.72), (0.9, 0.72), (150, 170))]
    return render_clip(tmp_path_factory.mktemp("long") / "long.mp4", people, 14.0, size_wh=(1280, 720), seed=21,
                       vehicles=car)


@pytest.fixture(scope="module")
def undisturbed(long_clip, watchlist_dir, sqlite_template, tmp_path_factory) -> tuple[set, set]:
    """The long clip analysed once in-process (no Redis, the workers' settings), on a data directory
    of its own: the tracks, sightings and candidates every run through the workers must end with."""
    with pytest.MonkeyPatch.context() as mp:
        use_data_dir(mp, fresh_data_dir(tmp_path_factory.mktemp("undisturbed") / "data", sqlite_template))
        for key, value in WORKER_SETTINGS.items():
            mp.setenv(key, value)
        run("watchlist", "import", watchlist_dir, env=dict(os.environ))
        run("process", long_clip, "--incident", "INC-REF", env=dict(os.environ))
        with Runtime(Settings()).sessions() as s:
            reference = s.scalar(select(Evidence.id))
        _, tracks, cands = results(reference)
    return tracks, cands


def descendants(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            out += [int(child), *descendants(int(child))]
    return out


def results(evidence_id: int) -> tuple[str, set, set]:
    """(state, face tracks and plate sightings, candidates)."""
    with Runtime(Settings()).sessions() as s:
        ev = s.get(Evidence, evidence_id)
        tracks = {(t.track_index, t.first_t_s, t.last_t_s, t.n_detections) for t in
                  s.scalars(select(FaceTrackRow).where(FaceTrackRow.evidence_id == evidence_id))}
        tracks |= {(p.vrm, p.first_t_s, p.last_t_s, p.n_reads) for p in
                   s.scalars(select(PlateSightingRow).where(PlateSightingRow.evidence_id == evidence_id))}
        cands = [(c.subject.name, c.track.track_index, round(c.distance, 4), c.review_state) for c in
                 s.scalars(select(CandidateRow).where(CandidateRow.evidence_id == evidence_id))]
    assert len(cands) == len(set(cands)), "duplicate candidates"
    return ev.state, tracks, set(cands)


def test_submit_then_worker_gives_the_in_process_results(worker_env, long_clip, watchlist_dir, undisturbed):
    run("watchlist", "import", watchlist_dir, env=worker_env)
    out = run("submit", long_clip, "--incident", "INC-W", env=worker_env).stdout
    evidence_id = int(out.split()[1])
    assert run("status", evidence_id, env=worker_env).stdout.startswith(f"evidence {evidence_id}: queued")
    run("worker", "--burst", env=worker_env)
    state, tracks, cands = results(evidence_id)
    assert state == "done" and {c[0] for c in cands if c[3] == "pending"} == {"Gordon_Brown", "Kim_Clijsters"}
    assert [t[0] for t in tracks if isinstance(t[0], str)] == ["YR19KDF"]  # one sighting, joined across the cut
    # The quick pass alerted first; its candidates were superseded by the full analysis's.
    assert {c[0] for c in cands if c[3] == "superseded"} <= {"Gordon_Brown", "Kim_Clijsters"}
    with Runtime(Settings()).sessions() as s:
        kinds = sorted(i.kind for i in s.scalars(select(WorkItem).where(WorkItem.evidence_id == evidence_id)))
        assert kinds.count("segment") >= 2 and "plates" not in kinds  # plates come from the segments' decode
        assert all(i.plan.get("plates") for i in s.scalars(select(WorkItem).where(
            WorkItem.evidence_id == evidence_id, WorkItem.kind == "segment")))
        assert "quick" in kinds and "transcode" in kinds
        assert s.scalar(select(func.count()).select_from(WorkItem).where(WorkItem.state != "done")) == 0
    # The same clip in-process gives the same results.
    assert undisturbed == (tracks, cands)


def test_worker_killed_mid_analysis_is_replaced_and_results_are_exact(worker_env, long_clip, watchlist_dir,
                                                                        undisturbed):
    run("watchlist", "import", watchlist_dir, env=worker_env)
    out = run("submit", long_clip, "--incident", "INC-KILL", env=worker_env).stdout
    evidence_id = int(out.split()[1])
    worker = subprocess.Popen([EVIDENCE, "worker"], env=worker_env, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with Runtime(Settings()).sessions() as s:
            killed = s.scalar(select(WorkItem).where(WorkItem.evidence_id == evidence_id, WorkItem.kind == "segment",
                                                     WorkItem.state == "running", WorkItem.progress >= 0.2))
            if killed is not None:
                break
        time.sleep(0.02)
    else:
        pytest.fail("no segment was ever analysed")
    # The worker and its work-horse (RQ forks it into a session of its own), mid-segment.
    for pid in descendants(worker.pid) + [worker.pid]:
        os.kill(pid, signal.SIGKILL)
    worker.wait()
    with Runtime(Settings()).sessions() as s:
        assert s.get(Evidence, evidence_id).state == "analysing"
        assert s.get(WorkItem, killed.id).state == "running"
    time.sleep(3.5)  # the dead runner's lease runs out
    res = run("worker", "--burst", env=worker_env)
    assert f"re-queued evidence {evidence_id}" in res.stderr
    state, tracks, cands = results(evidence_id)
    assert state == "done" and (tracks, cands) == undisturbed


def test_redis_restart_mid_run_loses_the_queue_but_no_evidence(worker_env, redis_server, long_clip, clips,
                                                               watchlist_dir):
    run("watchlist", "import", watchlist_dir, env=worker_env)
    ids = [int(run("submit", clip, env=worker_env).stdout.split()[1]) for clip in (long_clip, clips["phone"])]
    worker = subprocess.Popen([EVIDENCE, "worker"], env=worker_env, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with Runtime(Settings()).sessions() as s:
                if s.scalar(select(WorkItem).where(WorkItem.state == "done", WorkItem.kind == "segment")):
                    break
            time.sleep(0.05)
        else:
            pytest.fail("no segment was ever finished")
        redis_server.stop()  # no persistence: every queued job and the graph's dependencies are gone
        redis_server.start()
        # Workers are restarted by their supervisor; each first re-queues what the database says
        # is unfinished and unheld. Until every item is done.
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and {results(i)[0] for i in ids} != {"done"}:
            run("worker", "--burst", env=worker_env)
            time.sleep(1.0)
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
    assert [results(i)[0] for i in ids] == ["done", "done"]
    assert {c[0] for c in results(ids[0])[2] if c[3] == "pending"} == {"Gordon_Brown", "Kim_Clijsters"}


def test_bad_media_in_a_job_ends_failed_not_in_a_retry_loop(worker_env, clips):
    """The stored original is damaged after submission: the ingest job's hash check fails it; the
    job itself succeeds (no retry can mend bytes), so nothing is left in RQ's failed registry."""
    from rq.registry import FailedJobRegistry

    from workers.queue import connect

    evidence_id = int(run("submit", clips["street"], env=worker_env).stdout.split()[1])
    with Runtime(Settings()).sessions() as s:
        path = Runtime(Settings()).store.absolute(s.get(Evidence, evidence_id).store_path)
    os.chmod(path, 0o644)
    path.write_bytes(path.read_bytes()[:50_000])
    run("worker", "--burst", env=worker_env)
    out = run("status", evidence_id, env=worker_env).stdout
    assert out.startswith(f"evidence {evidence_id}: failed (") and "no longer matches its SHA-256" in out
    assert FailedJobRegistry("evidence", connection=connect(worker_env["EVIDENCE_REDIS_URL"])).count == 0


def test_submit_without_a_reachable_redis_is_a_clear_error_and_stores_nothing(env, clips, monkeypatch):
    monkeypatch.setenv("EVIDENCE_REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    res = run("submit", clips["empty"], env=dict(os.environ), check=False)
    assert res.returncode == 2 and res.stderr.startswith("error: Redis at redis://127.0.0.1:")
    assert not (env / "store" / "originals").exists()
    monkeypatch.delenv("EVIDENCE_REDIS_URL")
    res = run("submit", clips["empty"], env=dict(os.environ), check=False)
    assert res.returncode == 2 and "no Redis configured" in res.stderr


def test_a_poison_job_stops_after_its_retries_and_fails_the_evidence(worker_env, clips, monkeypatch):
    """A job that fails on every run (here: a work item the code cannot do) is retried per the
    back-off list, then the evidence ends `failed` with the reason — no loop, no stuck item."""
    from rq.registry import FailedJobRegistry

    from evidence.work import prepare_evidence
    from workers.queue import connect

    env = {**worker_env, "EVIDENCE_RETRY_BACKOFF_S": "[0, 0]"}  # two immediate retries
    evidence_id = int(run("submit", clips["empty"], env=env).stdout.split()[1])
    # Plan it here, and spoil one item, so that its job raises an internal error every time.
    rt = Runtime(Settings())
    prepare_evidence(rt, evidence_id)
    with rt.sessions.begin() as s:
        s.execute(update(WorkItem).where(WorkItem.evidence_id == evidence_id, WorkItem.kind == "segment")
                  .values(kind="bogus"))
    res = run("worker", "--burst", env=env)
    assert res.stderr.count("unknown kind 'bogus'") >= 3  # the first run and two retries
    out = run("status", evidence_id, env=env).stdout
    assert out.startswith(f"evidence {evidence_id}: failed (job item-") and "after its retries" in out
    assert FailedJobRegistry("evidence", connection=connect(env["EVIDENCE_REDIS_URL"])).count == 1


def test_a_job_taken_off_the_queue_by_a_worker_killed_before_it_started_is_requeued(worker_env, redis_server, clips):
    """A worker SIGKILLed between taking a job off the queue and starting it leaves the job's status
    "queued" in no queue at all (benchmarks/soak_faults.py found one clip stuck so): reconcile looks
    in the queue, not at the status, and the clip is analysed."""
    from redis import Redis

    evidence_id = int(run("submit", clips["phone"], env=worker_env).stdout.split()[1])
    redis = Redis(port=redis_server.port)
    taken = redis.lpop("rq:queue:evidence")  # what the killed worker took with it
    assert taken is not None and taken.decode().startswith("ingest-")
    assert redis.hget(f"rq:job:{taken.decode()}", "status") == b"queued" and redis.llen("rq:queue:evidence") == 0
    res = run("reconcile", env=worker_env)
    assert str(evidence_id) in res.stdout + res.stderr
    run("worker", "--burst", env=worker_env)
    assert results(evidence_id)[0] == "done"


def test_a_scheduler_that_loses_redis_ends_without_raw_lines_in_the_json_log(capfd):
    """RQ's scheduler process raised again an error it had logged, and multiprocessing printed
    ``Process Scheduler:`` and the traceback raw into the worker's JSON log (test_ops caught a
    line so when Redis restarted). It now ends with status 1 and nothing raw."""
    from redis import Redis
    from rq.serializers import JSONSerializer

    from workers.queue import EvidenceScheduler, make_queue

    gone = Redis(port=free_port(), socket_connect_timeout=1)
    scheduler = EvidenceScheduler([make_queue(gone, "evidence")], connection=gone, serializer=JSONSerializer)
    process = scheduler.start()
    process.join(30)
    assert process.exitcode == 1
    assert "Process Scheduler" not in capfd.readouterr().err
