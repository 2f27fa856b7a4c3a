"""Operations as a force's monitoring sees them: /ready says what is missing (503) until a worker
is alive, /metrics reports requests by route template and the system's state (evidence by state,
queue depth, job durations by kind from every worker), each request carries an id that is echoed
and written on its log line, and `evidence serve` and `evidence worker` log one JSON object a line."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time

import httpx
import pytest
from fastapi.testclient import TestClient
from redis import Redis
from rq import Queue

from api.main import create_app
from evidence.settings import Settings
from served import EVIDENCE, free_port, run, wait_http
from test_workers import RedisServer

pytestmark = pytest.mark.usefixtures("env")
METRICS_TOKEN = "scrape-token-of-the-tests-0123456789"
SCRAPE = {"Authorization": f"Bearer {METRICS_TOKEN}"}


@pytest.fixture(autouse=True)
def _scrape_token(env, monkeypatch):
    monkeypatch.setenv("EVIDENCE_METRICS_TOKEN", METRICS_TOKEN)  # Prometheus's bearer token (issue 29)


def _metric(text: str, name: str, **labels: str) -> float:
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = rf"^{re.escape(name)}{{{re.escape(want)}}} (\S+)$" if labels else rf"^{re.escape(name)} (\S+)$"
    m = re.search(pattern, text, re.M)
    assert m, f"{name}{{{want}}} not in /metrics"
    return float(m.group(1))


def test_metrics_are_off_without_a_scrape_token(tmp_path):
    with TestClient(create_app(Settings(data_dir=tmp_path / "data", metrics_token=None))) as client:
        off = client.get("/metrics", headers=SCRAPE)
        assert off.status_code == 403 and "EVIDENCE_METRICS_TOKEN" in off.json()["message"]


def test_ready_and_metrics_in_process(tmp_path):
    with TestClient(create_app(Settings(data_dir=tmp_path / "data"))) as client:
        r = client.get("/ready")
        assert r.status_code == 200 and r.json()["ready"] is True
        assert {c["name"]: c["ok"] for c in r.json()["checks"]} == {"database": True, "store": True, "workers": True}
        assert client.get("/incidents/INC-NOPE/events").status_code == 401  # a route with a parameter
        assert client.get("/metrics").status_code == 401  # no token: nothing of the force's counts
        assert client.get("/metrics", headers={"Authorization": "Bearer guess-guess-guess-guess"}).status_code == 401
        r = client.get("/metrics", headers=SCRAPE)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
        text = r.text
        assert _metric(text, "evidence_items", state="done") == 0
        assert _metric(text, "evidence_candidates", review_state="pending") == 0
        assert _metric(text, "evidence_deliveries", state="failed") == 0
        assert _metric(text, "evidence_hotlist_hits") == 0
        # By route template (never the raw path: one series per route, whatever the ids).
        assert _metric(text, "evidence_http_request_duration_seconds_count", method="GET",
                       route="/incidents/{incident_id}/events", status="401") == 1
        assert _metric(text, "evidence_http_request_duration_seconds_count", method="GET", route="/ready",
                       status="200") == 1
        assert "INC-NOPE" not in text

        sent = client.get("/health", headers={"X-Request-ID": "proxy-7f3a"})
        assert sent.headers["x-request-id"] == "proxy-7f3a"
        made = client.get("/health").headers["x-request-id"]
        assert re.fullmatch(r"[0-9a-f]{32}", made)
        for hostile in ('a"b}\\nx', "x" * 65):  # not tame, or too long: replaced, never logged as sent
            assert re.fullmatch(r"[0-9a-f]{32}", client.get("/health", headers={"X-Request-ID": hostile})
                                .headers["x-request-id"])


def test_a_bug_is_answered_with_its_request_id(tmp_path, caplog):
    app = create_app(Settings(data_dir=tmp_path / "data"))

    @app.get("/boom", include_in_schema=False)
    def boom() -> None:
        raise RuntimeError("a bug")

    with TestClient(app) as client:
        r = client.get("/boom", headers={"X-Request-ID": "bug-1"})
    assert r.status_code == 500 and r.headers["x-request-id"] == "bug-1"
    assert r.json() == {"code": "internal_error", "message": "internal error (request bug-1)"}
    assert any(rec.exc_info and "a bug" in str(rec.exc_info[1]) for rec in caplog.records)


def test_ready_waits_for_a_worker_and_metrics_follow_the_jobs(tmp_path, clips, monkeypatch):
    redis = RedisServer(free_port())
    redis.start()
    monkeypatch.setenv("EVIDENCE_REDIS_URL", f"redis://127.0.0.1:{redis.port}/0")
    env = dict(os.environ)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    api_log, worker_log = tmp_path / "api.log", tmp_path / "worker.log"
    procs = []
    try:
        with api_log.open("wb") as out:
            procs.append(subprocess.Popen([EVIDENCE, "serve", "--port", str(port)], env=env, stdout=out, stderr=out,
                                          start_new_session=True))
        wait_http(f"{base}/health")
        r = httpx.get(f"{base}/ready", headers={"X-Request-ID": "ready-check-1"})
        checks = {c["name"]: c for c in r.json()["checks"]}
        assert r.status_code == 503 and not r.json()["ready"]
        assert checks["redis"]["ok"] and checks["database"]["ok"] and checks["store"]["ok"]
        assert not checks["workers"]["ok"] and "no live worker" in checks["workers"]["detail"]

        with worker_log.open("wb") as out:
            procs.append(subprocess.Popen([EVIDENCE, "worker"], env=env, stdout=out, stderr=out,
                                          start_new_session=True))
        end = time.monotonic() + 240  # a bound, not a measure: a loaded machine loads the models slowly
        while httpx.get(f"{base}/ready").status_code != 200:
            assert time.monotonic() < end, f"the worker never showed as live: {worker_log.read_text()[-2000:]}"
            time.sleep(0.2)

        evidence_id = int(re.search(r"evidence (\d+)", run("submit", clips["street"], "--incident", "INC-OPS",
                                                          env=env).stdout).group(1))
        end = time.monotonic() + 300
        while True:
            text = httpx.get(f"{base}/metrics", headers=SCRAPE).text
            if _metric(text, "evidence_items", state="done") == 1:
                break
            assert _metric(text, "evidence_items", state="failed") == 0
            assert time.monotonic() < end, f"evidence {evidence_id} never finished"
            time.sleep(0.5)
        assert _metric(text, "evidence_queue_depth", queue="evidence") == 0
        assert _metric(text, "evidence_workers_live") == 1
        for kind in ("ingest", "segment", "finalise"):
            assert _metric(text, "evidence_job_duration_seconds_count", kind=kind) >= 1
            assert _metric(text, "evidence_jobs_failed_total", kind=kind) == 0
        assert _metric(text, "evidence_job_duration_seconds_sum", kind="segment") > 0

        # Redis restarted empty: the worker (not restarted) registers again and the system is ready.
        redis.stop()
        redis.start()
        end = time.monotonic() + 60
        while httpx.get(f"{base}/ready").status_code != 200:
            assert time.monotonic() < end, httpx.get(f"{base}/ready").text
            time.sleep(0.5)
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(20)
        redis.stop()

    # Every line both processes wrote is one JSON object; the API's access line has the request id sent.
    api_lines = [json.loads(line) for line in api_log.read_text().splitlines() if line.strip()]
    worker_lines = [json.loads(line) for line in worker_log.read_text().splitlines() if line.strip()
                    if not line.startswith("re-queued")]
    assert worker_lines and all({"ts", "level", "logger", "message"} <= line.keys() for line in worker_lines)
    ready_lines = [line for line in api_lines if line.get("route") == "/ready" and line.get("status") == 503]
    assert ready_lines[0]["request_id"] == "ready-check-1" and ready_lines[0]["ts"].endswith("Z")


def test_work_lost_with_redis_is_requeued_by_the_api_without_a_worker_restart(tmp_path, clips, monkeypatch):
    """Redis restarted empty while a clip waits: no upload follows and no worker restarts, yet the
    API's watch sees the queues were lost and re-queues it from the database."""
    redis = RedisServer(free_port())
    redis.start()
    monkeypatch.setenv("EVIDENCE_REDIS_URL", f"redis://127.0.0.1:{redis.port}/0")
    env = dict(os.environ)
    key = run("keys", "create", "--role", "control_room", "--name", "desk 3", env=env).stdout.split()[-1]
    auth = {"Authorization": f"Bearer {key}"}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    procs = [subprocess.Popen([EVIDENCE, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)]
    try:
        wait_http(f"{base}/health")
        incident = httpx.post(f"{base}/incidents", json={"reference": "INC-LOST"}, headers=auth).json()
        with clips["phone"].open("rb") as f:
            sent = httpx.post(f"{base}/incidents/{incident['id']}/evidence", files={"file": ("p.mp4", f, "video/mp4")},
                              headers=auth, timeout=60)
        assert sent.status_code == 201
        assert _metric(httpx.get(f"{base}/metrics", headers=SCRAPE).text, "evidence_queue_depth", queue="evidence") == 1
        redis.stop()  # no persistence: the queued ingest is gone
        redis.start()
        queue = Queue("evidence", connection=Redis(port=redis.port))
        end = time.monotonic() + 30
        # The lost ingest, and the day's retention run lost with it (queued by the same pass, a moment after).
        while not (any(j.startswith("ingest-") for j in queue.job_ids)
                   and any(j.startswith("purge-anpr-") for j in queue.job_ids)):
            assert time.monotonic() < end, f"the lost jobs were never re-queued: {queue.job_ids}"
            time.sleep(0.5)
        procs.append(subprocess.Popen([EVIDENCE, "worker", "--burst"], env=env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL, start_new_session=True))
        procs[-1].wait(180)
        assert _metric(httpx.get(f"{base}/metrics", headers=SCRAPE).text, "evidence_items", state="done") == 1
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(20)
        redis.stop()
