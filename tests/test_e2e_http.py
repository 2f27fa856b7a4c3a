"""End to end over real HTTP: `evidence serve`, an RQ `evidence worker` and a real redis-server.
The control room opens an incident and sends a witness an upload link; the witness uploads a clip
through it; a candidate for the right subject arrives on the incident's live feed (SSE)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import httpx
import pytest

from tests.test_workers import EVIDENCE, free_port, redis_server, run  # noqa: F401  (redis_server: fixture)

pytestmark = pytest.mark.skipif(not os.path.exists("/usr/bin/redis-server"), reason="redis-server not installed")


def _wait_http(url: str) -> None:
    for _ in range(200):
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} never answered")


def test_public_upload_to_live_candidate_over_http(env, redis_server, clips, watchlist_dir, monkeypatch):  # noqa: F811
    monkeypatch.setenv("EVIDENCE_REDIS_URL", f"redis://127.0.0.1:{redis_server.port}/0")
    monkeypatch.setenv("EVIDENCE_WORKING_COPY", "false")
    e = dict(os.environ)
    run("watchlist", "import", watchlist_dir, env=e)
    key = run("keys", "create", "--role", "control_room", "--name", "Control room desk 3", env=e).stdout.split()[-1]
    port = free_port()
    procs = [subprocess.Popen([EVIDENCE, "serve", "--port", str(port)], env=e, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
             subprocess.Popen([EVIDENCE, "worker"], env=e, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    base, auth = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {key}"}
    try:
        _wait_http(f"{base}/health")
        incident = httpx.post(f"{base}/incidents", json={"reference": "INC-999-FIREWORKS"}, headers=auth).json()
        link = httpx.post(f"{base}/incidents/{incident['id']}/upload-links", json={"max_uploads": 1},
                          headers=auth).json()
        # The control room is watching the feed before the witness uploads.
        subjects: list[str] = []
        kinds: list[str] = []
        with httpx.Client(timeout=httpx.Timeout(10, read=120)) as client:
            with client.stream("GET", f"{base}/incidents/{incident['id']}/events", headers=auth,
                               params={"max_s": 120}) as feed:
                with clips["street"].open("rb") as f:  # no key: the link is the permission
                    sent = httpx.post(f"{base}{link['url']}", files={"file": ("VID_0001.mp4", f, "video/mp4")},
                                      data={"caption": "youths throwing fireworks", "contact": "07700 900123"})
                assert sent.status_code == 201, sent.text
                for line in feed.iter_lines():
                    if line.startswith("data: "):
                        event = json.loads(line[6:])
                        kinds.append(event["kind"])
                        if event["kind"] == "candidate":
                            subjects.append(event["subject"])
                            assert event["crop_url"].startswith("/candidates/") and 0 < event["score"] <= 1
                            break
        assert kinds[:2] == ["upload_link.created", "evidence.received"]
        assert subjects and subjects[0] in {"Gordon_Brown", "Kim_Clijsters"}
        # The crop behind the alert, fetched as the control room sees it.
        cands = httpx.get(f"{base}/incidents/{incident['id']}", headers=auth).json()["evidence"][0]["candidates"]
        crop = httpx.get(f"{base}{cands[0]['crop_url']}", headers=auth)
        assert crop.status_code == 200 and crop.headers["content-type"] == "image/jpeg"
    finally:
        for p in procs:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
