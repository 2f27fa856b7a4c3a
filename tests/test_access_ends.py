"""Access taken away ends everywhere, open streams included (issue 29, 3): an insider whose key is
revoked, whose account is disabled, whose password is changed elsewhere or who signs out stops
receiving the incident's live feed within 5 s — the stream says so and closes. On SQLite and on
PostgreSQL, through a real `evidence serve`."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from evidence.audit import Actor
from evidence.keys import create_key, revoke_key
from evidence.runtime import Runtime
from evidence.settings import Settings
from evidence.users import add_user, change_password, disable_user, end_session, sign_in
from tests.served import served

ADMIN = Actor("test-admin", "admin")
PASSWORD = "a long enough passphrase 1"
ENDS_WITHIN_S = 5.0


@pytest.fixture
def site(database_url: str, tmp_path: Path) -> Iterator[tuple[str, Runtime, dict[str, str]]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVIDENCE_")}
    env.update(EVIDENCE_DATA_DIR=str(tmp_path / "data"), EVIDENCE_DATABASE_URL=database_url)
    rt = Runtime(Settings(data_dir=tmp_path / "data", database_url=database_url))
    with served(env) as base:
        opener = {"Authorization": f"Bearer {create_key(rt, 'desk 1', 'control_room', ADMIN)[1]}"}
        incident = httpx.post(f"{base}/incidents", json={"reference": "INC-ENDS"}, headers=opener).json()["id"]
        yield f"{base}/incidents/{incident}/events", rt, opener
    rt.engine.dispose()


def _person(rt: Runtime, name: str) -> tuple[int, str]:
    """A signed-in person (their own password chosen): (user id, the session cookie's token)."""
    user, one_time = add_user(rt, name, "investigator", ADMIN)
    change_password(rt, user.id, one_time, PASSWORD)
    return user.id, sign_in(rt, name, PASSWORD, "127.0.0.1")[0]


def _ends_after(url: str, take_away: Callable[[], None], **request: dict[str, str]) -> tuple[float, str]:
    """Open the feed, take the access away once it is flowing: (seconds until the stream ended
    after that, what it said last)."""
    said: list[str] = []
    flowing, ended = threading.Event(), threading.Event()

    def listen() -> None:
        with httpx.stream("GET", url, timeout=httpx.Timeout(5, read=60), **request) as res:  # type: ignore[arg-type]
            assert res.status_code == 200, res.read()
            for line in res.iter_lines():
                said.append(line)
                flowing.set()
        ended.set()

    reader = threading.Thread(target=listen, daemon=True)
    reader.start()
    assert flowing.wait(10), "the feed never started"
    at = time.monotonic()
    take_away()
    assert ended.wait(30), "the stream is still open 30 s after the access was taken away"
    reader.join(5)
    return time.monotonic() - at, "\n".join(said[-4:])


def test_a_revoked_key_ends_its_open_stream(site):
    url, rt, _ = site
    key_id, key = create_key(rt, "DC 4 Shah's tablet", "investigator", ADMIN)
    took, last = _ends_after(url, lambda: revoke_key(rt, key_id, ADMIN), headers={"Authorization": f"Bearer {key}"})
    assert took <= ENDS_WITHIN_S and "event: access_ended" in last, (took, last)
    assert httpx.get(url, headers={"Authorization": f"Bearer {key}"}).status_code == 401


def test_a_disabled_person_a_changed_password_and_a_sign_out_each_end_the_stream(site):
    url, rt, _ = site
    uid, token = _person(rt, "DC 5 Ellis")
    took, last = _ends_after(url, lambda: disable_user(rt, uid, ADMIN), cookies={"ep_session": token})
    assert took <= ENDS_WITHIN_S and "event: access_ended" in last, (took, last)

    uid, token = _person(rt, "DC 6 Grant")
    other = sign_in(rt, "DC 6 Grant", PASSWORD, "10.0.0.9")[0]  # the same person on another machine
    took, last = _ends_after(url, lambda: change_password(rt, uid, PASSWORD, PASSWORD + " changed", keep_session=other),
                             cookies={"ep_session": token})
    assert took <= ENDS_WITHIN_S and "event: access_ended" in last, (took, last)
    assert httpx.get(f"{url}?max_s=0.5", cookies={"ep_session": other}).status_code == 200  # the one it changed from

    took, last = _ends_after(url, lambda: end_session(rt, other, Actor("DC 6 Grant", "investigator")),
                             cookies={"ep_session": other})
    assert took <= ENDS_WITHIN_S and "event: access_ended" in last, (took, last)


def test_evidence_serve_stops_on_sigterm_with_a_live_feed_open(tmp_path):
    """Issue 29 (11): SIGTERM with a live-feed client connected left `evidence serve` running (and
    sending notifications) for as long as the client stayed: the feed ends and the server exits."""
    import signal
    import subprocess

    from tests.served import EVIDENCE, free_port, wait_http

    env = {k: v for k, v in os.environ.items() if not k.startswith("EVIDENCE_")}
    env.update(EVIDENCE_DATA_DIR=str(tmp_path / "data"))
    rt = Runtime(Settings(data_dir=tmp_path / "data"))
    port = free_port()
    proc = subprocess.Popen([EVIDENCE, "serve", "--port", str(port)], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/health")
        key = create_key(rt, "desk 1", "control_room", ADMIN)[1]
        auth = {"Authorization": f"Bearer {key}"}
        incident = httpx.post(f"{base}/incidents", json={"reference": "INC-STOP"}, headers=auth).json()["id"]
        took, _ = _ends_after(f"{base}/incidents/{incident}/events", lambda: proc.send_signal(signal.SIGTERM),
                              headers=auth)
        # uvicorn ends gracefully, then re-raises the signal it caught: the exit status says SIGTERM.
        assert proc.wait(15) in (0, -signal.SIGTERM) and took <= ENDS_WITHIN_S, took
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        rt.engine.dispose()
