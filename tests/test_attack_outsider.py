"""An outsider: no key, no link. What they send is capped, bounded and counted before it can cost
anything (issue 12's hardening, issue 29's edges): bodies too large (declared or streamed, before
authentication), ids past what a database holds, JSON that cannot be stored, bad headers, guessed
keys and links. Each gets a 4xx with a JSON `code`; nothing is left behind. Also tried on an
outsider: sign-in slowed, never locked (tests/test_pages.py::test_wrong_passwords_slow_the_guesser…),
/metrics behind its token (tests/test_ops.py), webhooks to loopback or metadata in any IPv6 spelling
(tests/test_notify.py::test_loopback_and_metadata_written_in_ipv6…)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import httpx
import pytest

from tests.attackers import MB, post_chunked
from tests.served import run, served


def _in_flight_bytes() -> int:
    """The most a loopback connection can hold between the client's send and the server's read: the
    kernel's largest receive and send buffers (autotuned up to these under load), and a chunk."""
    most = [int(Path(f"/proc/sys/net/ipv4/tcp_{b}").read_text().split()[2]) for b in ("rmem", "wmem")]
    return sum(most) + MB


def test_bodies_are_capped_as_they_stream_before_authentication(env):
    e = dict(os.environ)
    camera = run("keys", "create", "--role", "camera", "--name", "CAM-1", env=e).stdout.split()[-1]
    desk = run("keys", "create", "--role", "control_room", "--name", "desk", env=e).stdout.split()[-1]
    with served(e) as base:
        cr = {"Authorization": f"Bearer {desk}"}
        incident = httpx.post(f"{base}/incidents", json={"reference": "INC-CAP"}, headers=cr).json()["id"]
        link = httpx.post(f"{base}/incidents/{incident}/upload-links", json={"max_bytes": 2 * MB}, headers=cr).json()
        json_, form = {"Content-Type": "application/json"}, {"Content-Type": "multipart/form-data; boundary=b"}
        for path, headers, cap in (("/incidents", json_, 64 * 1024), ("/search/faces", form, 21 * MB),
                                   ("/anpr/reads", {**json_, "Authorization": f"Bearer {camera}"}, 64 * MB),
                                   (link["url"], form, 2 * MB)):  # the link's own cap, not the 8 GiB one
            field = "photo" if path == "/search/faces" else "file"
            part = (f'--b\r\nContent-Disposition: form-data; name="{field}"; filename="p.jpg"\r\n'
                    "Content-Type: image/jpeg\r\n\r\n").encode() if headers is form else b""
            status, body, sent = post_chunked(base, path, headers, 300 * MB, part)
            assert status == 413 and body["code"] == "too_large", (path, body)
            assert sent <= cap + _in_flight_bytes(), (path, sent)  # stopped at the cap (plus what the sockets buffer)
        host, port = base.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))) as sock:  # declares 300 MB, sends nothing
            sock.sendall(f"POST /incidents HTTP/1.1\r\nHost: x\r\nContent-Length: {300 * MB}\r\n\r\n".encode())
            sock.settimeout(10)
            answer = b""
            while chunk := sock.recv(65536):  # the answer ends with the connection (Connection: close)
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 413") and b"over this route" in answer


def test_ids_past_what_the_database_holds_are_422(api):
    client, _, keys, incident = api
    cr, inv = keys["control_room"], keys["investigator"]
    for path in (f"/incidents/{2**63}", f"/incidents/{2**31}", f"/candidates/{2**64}/crop",
                 f"/face-tracks/{2**63}/crop", f"/anpr/reads/{2**64}/plate"):
        res = client.get(path, headers=inv)
        assert res.status_code == 422 and res.json()["code"] == "invalid_request", (path, res.text)
    assert client.get(f"/incidents/{incident}/timeline", params={"after": 2**64}, headers=cr).status_code == 422
    res = client.post("/hotlist", headers=cr, json={"vrm": "AB12CDE", "reason": "r", "category": "c",
                                                    "incident_id": 2**63})
    assert res.status_code == 422
    res = client.post("/search/faces", headers=inv, data={"reason": "r", "incident": str(2**63)},
                      files={"photo": ("p.jpg", b"\xff\xd8", "image/jpeg")})
    assert res.status_code == 422
    assert client.get("/incidents/2147483647", headers=inv).status_code == 404  # in range: not found


def test_bodies_that_cannot_be_stored_or_parsed_are_422(api):
    client, _, keys, _ = api
    cr, cam, inv = keys["control_room"], keys["camera"], keys["investigator"]
    plain = client.post("/incidents", content=b"reference=INC-1", headers={**cr, "Content-Type": "text/plain"})
    assert plain.status_code == 422 and plain.json()["code"] == "invalid_request"
    lone = client.post("/incidents", content=b'{"reference": "INC-\\ud800"}', headers={**cr, "Content-Type": "application/json"})
    assert lone.status_code == 422 and "surrogate" in lone.json()["message"]
    nul = client.post("/incidents", json={"reference": "INC-\x00"}, headers=cr)
    assert nul.status_code == 422 and "NUL" in nul.json()["message"]
    nan = client.post("/anpr/reads", content=b'{"camera_id": "camera one", "location": {"lat": NaN}}', headers=cam)
    assert nan.status_code == 422
    nul_form = client.post("/search/faces", headers=inv, data={"reason": "op\x00X"},
                           files={"photo": ("p.jpg", b"\xff\xd8", "image/jpeg")})
    assert nul_form.status_code == 422 and "NUL" in nul_form.json()["message"]
    as_text = client.post("/search/faces", headers=inv, data={"reason": "r", "photo": "not a file"})
    assert as_text.status_code == 422 and as_text.json()["code"] == "invalid_request"
    deep = b"[" * 100_000 + b"]" * 100_000
    for body in (deep, b'{"reads": ' + b"[" * 5000 + b"]" * 5000 + b"}"):
        res = client.post("/anpr/reads", content=body, headers={**cam, "Content-Type": "application/json"})
        assert res.status_code == 422 and res.json()["code"] == "invalid_read", res.text
    res = client.post("/anpr/reads", headers=cam, data={"read": "[" * 100_000 + "]" * 100_000},
                      files={"plate_image": ("p.jpg", b"\xff\xd8", "image/jpeg")})
    assert res.status_code == 422 and res.json()["code"] == "invalid_read"
    assert client.get("/incidents", params={"x": "a\x00b"}, headers=cr).status_code == 422


def test_a_strict_last_event_id(api):
    client, _, keys, incident = api
    for bad in ("²", "-1", "1e3", "１２"):
        res = client.get(f"/incidents/{incident}/events",
                         headers={**keys["control_room"], "Last-Event-ID": bad.encode()},
                         params={"max_s": 0.1})
        assert res.status_code == 422 and "Last-Event-ID" in res.json()["message"], bad
    ok = client.get(f"/incidents/{incident}/events", headers={**keys["control_room"], "Last-Event-ID": "0"},
                    params={"max_s": 0.1})
    assert ok.status_code == 200


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_guessing_keys_and_links_is_rate_limited(api):
    client, _, keys, incident = api
    for i in range(20):
        assert client.get("/incidents", headers={"Authorization": f"Bearer ep_guess{i}"}).status_code == 401
    limited = client.get("/incidents", headers={"Authorization": "Bearer ep_guess"})
    assert limited.status_code == 429 and 1 <= int(limited.headers["Retry-After"]) <= 60
    assert client.get("/incidents", headers=keys["control_room"]).status_code == 200  # a valid key still works
    link = client.post(f"/incidents/{incident}/upload-links", json={}, headers=keys["control_room"]).json()
    codes = [client.post(link["url"], files={"file": ("v.mp4", b"", "video/mp4")}).status_code for _ in range(21)]
    assert codes[:20] == [422] * 20 and codes[20] == 429
