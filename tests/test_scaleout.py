"""A force's topology on one machine: PostgreSQL, Redis, an S3-protocol server (moto, over HTTP),
two `evidence serve` processes and two `evidence worker` processes, each with its own data
directory, sharing nothing else. A clip uploaded through the first API gives candidates on the
second API's live feed; the second exports the incident and the package verifies; nothing is
written in any data directory but the store's cache and scratch space."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import httpx
import pytest

from served import EVIDENCE, S3Server, free_port, run, wait_http
from test_workers import RedisServer

pytestmark = pytest.mark.skipif(not os.path.exists("/usr/bin/redis-server"), reason="redis-server not installed")
SCRATCH = {"cache", "exports", "index"}  # what a data directory may hold when the store is S3


def test_two_apis_two_workers_no_shared_disk(postgres_url, tmp_path, clips, watchlist_dir):
    if postgres_url is None:
        pytest.skip("PostgreSQL not reachable")
    redis, s3 = RedisServer(free_port()), S3Server()
    redis.start()
    shared = {**{k: v for k, v in os.environ.items() if not k.startswith("EVIDENCE_")}, **s3.env("force"),
              "EVIDENCE_DATABASE_URL": postgres_url, "EVIDENCE_REDIS_URL": f"redis://127.0.0.1:{redis.port}/0",
              "EVIDENCE_AUDIT_ANCHORS": str(tmp_path / "anchors" / "audit-anchors.jsonl"),
              "EVIDENCE_WORKING_COPY": "false"}

    def machine(name: str) -> dict[str, str]:
        return {**shared, "EVIDENCE_DATA_DIR": str(tmp_path / name)}

    procs: list[subprocess.Popen[bytes]] = []
    try:
        run("db", "upgrade", env=machine("admin"))
        run("watchlist", "import", watchlist_dir, env=machine("admin"))
        auth, investigator = ({"Authorization": "Bearer " + run("keys", "create", "--role", role, "--name", name,
                                                                  env=machine("admin")).stdout.split()[-1]}
                              for role, name in (("control_room", "Control room desk 3"),
                                                 ("investigator", "DC 4411 Patel")))
        apis = []
        for name in ("api1", "api2"):
            port = free_port()
            procs.append(subprocess.Popen([EVIDENCE, "serve", "--port", str(port)], env=machine(name),
                                          start_new_session=True, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL))
            apis.append(f"http://127.0.0.1:{port}")
        for name in ("worker1", "worker2"):
            procs.append(subprocess.Popen([EVIDENCE, "worker"], env=machine(name), start_new_session=True,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for base in apis:
            wait_http(f"{base}/health")
        end = time.monotonic() + 60
        while httpx.get(f"{apis[1]}/ready").status_code != 200:
            assert time.monotonic() < end, httpx.get(f"{apis[1]}/ready").text
            time.sleep(0.2)

        incident = httpx.post(f"{apis[0]}/incidents", json={"reference": "INC-FORCE"}, headers=auth).json()
        subjects: list[str] = []
        with httpx.Client(timeout=httpx.Timeout(10, read=180)) as client:
            with client.stream("GET", f"{apis[1]}/incidents/{incident['id']}/events", headers=auth,
                               params={"max_s": 180}) as feed:
                with clips["street"].open("rb") as f:
                    sent = httpx.post(f"{apis[0]}/incidents/{incident['id']}/evidence", headers=auth,
                                      files={"file": ("street.mp4", f, "video/mp4")}, timeout=60)
                assert sent.status_code == 201, sent.text
                for line in feed.iter_lines():
                    if line.startswith("data: "):
                        event = json.loads(line[6:])
                        if event["kind"] == "candidate":
                            subjects.append(event["subject"])
                        if event["kind"] == "evidence.done":
                            break
        assert set(subjects) == {"Gordon_Brown", "Kim_Clijsters"}

        # The second API (which received nothing) shows the crop and exports from the store.
        cands = httpx.get(f"{apis[1]}/incidents/{incident['id']}", headers=auth).json()["evidence"][0]["candidates"]
        assert sorted(c["subject"] for c in cands) == ["Gordon_Brown", "Kim_Clijsters"]  # one each, not one per worker
        assert httpx.get(f"{apis[1]}{cands[0]['crop_url']}", headers=auth).status_code == 200
        package = httpx.post(f"{apis[1]}/incidents/{incident['id']}/export", json={"reason": "CPS file"},
                             headers=investigator, timeout=120)
        assert package.status_code == 200, package.text
        (tmp_path / "package.zip").write_bytes(package.content)
        assert "intact" in run("verify", tmp_path / "package.zip", env=machine("admin")).stdout

        keys = s3.keys("force/")
        assert any(k.startswith("force/originals/") for k in keys)
        assert any(k.startswith("force/derivatives/") for k in keys)
        assert any(k.startswith("force/references/") for k in keys)
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        redis.stop()
        s3.stop()

    # No shared disk: each data directory holds only the store's cache and scratch space, and the
    # scratch (uploads being received, exports being built) is empty once the work is done.
    for name in ("admin", "api1", "api2", "worker1", "worker2"):
        data = tmp_path / name
        if data.exists():
            assert {p.name for p in data.iterdir()} <= SCRATCH, (name, sorted(p.name for p in data.iterdir()))
            leftovers = [p for p in (data / "cache" / "tmp").rglob("*") if p.is_file()] \
                if (data / "cache" / "tmp").exists() else []
            assert leftovers == [], (name, leftovers)
            assert not any(p.is_file() for p in (data / "exports").rglob("*")) if (data / "exports").exists() else True
