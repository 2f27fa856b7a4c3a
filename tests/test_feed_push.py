"""Committed events are pushed to the live feeds: what another process (a worker) commits reaches
the API's incident feed over Redis pub/sub without the feed reading the table again, and after
Redis restarts the push resumes. (The table stays the record: tests/test_anpr.py and the end-to-end
tests see the same events through the feed's poll.)"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from redis import Redis

from api.main import create_app
from evidence.audit import Actor
from evidence.keys import create_key
from evidence.notify.bus import CHANNEL
from evidence.settings import Settings
from tests.test_workers import RedisServer, free_port

ROOT = Path(__file__).resolve().parent.parent
WORKER = """
import sys
from evidence.events import add_event
from evidence.notify.bus import RedisBridge
from evidence.runtime import Runtime
from evidence.settings import Settings

rt = Runtime(Settings())
rt.bus.listen(RedisBridge(rt.settings.redis_url).publish)
with rt.sessions.begin() as s:
    add_event(s, int(sys.argv[1]), "anpr.hit", {
        "source": "footage", "vrm": sys.argv[2], "hotlist_id": 1, "hotlist_vrm": sys.argv[2], "reason": "test",
        "category": "stolen", "confidence": 0.9, "exact": True, "on_alternative_read": False, "plate_image_url": None,
        "overview_image_url": None, "verify": "check the read against the image"})
"""


def _worker_commits(incident: int, vrm: str) -> None:
    subprocess.run([sys.executable, "-c", WORKER, str(incident), vrm], cwd=ROOT, check=True, timeout=120)


def _subscribed(url: str) -> None:
    r = Redis.from_url(url)
    for _ in range(200):
        try:
            if dict(r.pubsub_numsub(CHANNEL)).get(CHANNEL.encode(), 0) >= 1:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError("the API did not subscribe to the event channel")


def test_events_committed_by_a_worker_are_pushed_to_the_feed_and_survive_a_redis_restart(env, monkeypatch):
    server = RedisServer(free_port())
    server.start()
    url = f"redis://127.0.0.1:{server.port}/0"
    monkeypatch.setenv("EVIDENCE_REDIS_URL", url)
    monkeypatch.setattr("api.sse.POLL_S", 600.0)  # after its first read the feed never reads the table: only pushes arrive
    try:
        app = create_app(Settings())
        with TestClient(app) as client:
            rt = app.state.runtime
            cr = {"Authorization": f"Bearer {create_key(rt, 'desk 3', 'control_room', Actor('t', 'admin'))[1]}"}
            incident = client.post("/incidents", json={"reference": "INC-PUSH"}, headers=cr).json()["id"]
            _subscribed(url)

            def worker() -> None:
                _worker_commits(incident, "AB12CDE")
                server.stop()  # Redis restarts between the two events
                server.start()
                _subscribed(url)  # the API's subscriber is back
                _worker_commits(incident, "KX19NFD")

            thread = threading.Thread(target=worker)
            seen = []
            with client.stream("GET", f"/incidents/{incident}/events", headers=cr, params={"max_s": 120}) as res:
                thread.start()
                for line in res.iter_lines():
                    if line.startswith("data: "):
                        e = json.loads(line[6:])
                        if e["kind"] == "anpr.hit":
                            seen.append(e["vrm"])
                            if len(seen) == 2:
                                break
            thread.join(timeout=120)
            assert seen == ["AB12CDE", "KX19NFD"]
    finally:
        server.stop()


@pytest.mark.parametrize("push", [True, False])
def test_the_feed_sends_each_event_once_whether_pushed_or_read(env, monkeypatch, push):
    monkeypatch.setenv("EVIDENCE_FEED_PUSH", "1" if push else "0")
    app = create_app(Settings())
    with TestClient(app) as client:
        rt = app.state.runtime
        admin = Actor("t", "admin")
        cr = {"Authorization": f"Bearer {create_key(rt, 'desk 3', 'control_room', admin)[1]}"}
        cam = {"Authorization": f"Bearer {create_key(rt, 'CAM-1', 'camera', admin)[1]}"}
        incident = client.post("/incidents", json={"reference": "INC-ONCE"}, headers=cr).json()["id"]
        client.post("/hotlist", headers=cr, json={"vrm": "AB12CDE", "reason": "r", "category": "wanted",
                                                  "incident_id": incident})
        from evidence.db.tables import utcnow

        def post() -> None:
            time.sleep(0.3)
            for _ in range(5):
                client.post("/anpr/reads", headers=cam, json={"camera_id": "CAM-1", "vrm": "AB12CDE",
                                                              "timestamp": utcnow().isoformat(), "confidence": 0.9})

        thread = threading.Thread(target=post)
        with client.stream("GET", f"/incidents/{incident}/events", headers=cr, params={"max_s": 3}) as res:
            thread.start()
            ids = [json.loads(line[6:])["id"] for line in res.iter_lines() if line.startswith("data: ")]
        thread.join()
        hits = ids[-5:]
        assert len(ids) == len(set(ids)) and len(hits) == 5 and hits == sorted(hits)
