"""Alerts that reach people (issue 15), end to end against real peers: `evidence serve` (its own
delivery threads) or RQ workers on a real Redis, an HTTP server receiving the webhooks and a real
SMTP server (aiosmtpd) receiving the emails.

A potential match reaches a webhook (its signature checked here with the documented scheme) and an
email; a receiver that answers 500 three times gets each event once; a worker killed mid-delivery
still delivers once; a hotlist hit on an entry linked to no incident reaches the desk and its
subscribers; acknowledgement and escalation are recorded; a witness's status page shows progress
and nothing identifying, and the opted-in witness gets one email per step."""

from __future__ import annotations

import base64
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from evidence.db.outbox_tables import Delivery
from evidence.db.tables import AuditEntry
from evidence.errors import InvalidRequest
from evidence.notify.targets import check_webhook
from evidence.runtime import Runtime
from evidence.settings import Settings
from tests.receivers import Mailbox, Receiver, signature_ok
from tests.served import EVIDENCE, free_port, run, served


@dataclass
class Site:
    base: str
    env: dict[str, str]
    keys: dict[str, str]
    mailbox: Mailbox

    def call(self, method: str, path: str, role: str, **kw: object) -> httpx.Response:
        return httpx.request(method, f"{self.base}{path}", headers={"Authorization": f"Bearer {self.keys[role]}"},
                             timeout=30, **kw)  # type: ignore[arg-type]

    def rt(self) -> Runtime:
        return Runtime(Settings(data_dir=Path(self.env["EVIDENCE_DATA_DIR"])))


def _env(data: Path, mailbox: Mailbox) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVIDENCE_")}
    env.update(EVIDENCE_DATA_DIR=str(data), EVIDENCE_PLATES="false", EVIDENCE_WEBHOOK_ALLOW_PRIVATE="true",
               EVIDENCE_SMTP_HOST="127.0.0.1", EVIDENCE_SMTP_PORT=str(mailbox.port), EVIDENCE_SMTP_TLS="none",
               EVIDENCE_MAIL_FROM="alerts@force.example", EVIDENCE_DELIVERY_BACKOFF_S="0.2",
               EVIDENCE_WEBHOOK_TIMEOUT_S="2", EVIDENCE_ALERT_ESCALATE_S="6",
               EVIDENCE_PUBLIC_URL="https://evidence.force.example")
    return env


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, watchlist_dir: Path) -> Iterator[Site]:
    mailbox = Mailbox()
    env = _env(tmp_path_factory.mktemp("notify") / "data", mailbox)
    run("watchlist", "import", watchlist_dir, env=env)
    keys = {role: run("keys", "create", "--role", role, "--name", name, env=env).stdout.split()[-1]
            for role, name in (("admin", "Admin Lee"), ("control_room", "PC 1234 Smith"), ("camera", "CAM-7"))}
    with served(env) as base:
        yield Site(base, env, keys, mailbox)
    mailbox.close()


def _subscribe(site: Site, events: list[str], *, url: str | None = None, email: str | None = None,
               **filters: object) -> dict[str, object]:
    body = {"name": "test", "events": events, "channel": "webhook" if url else "email", "url": url, "email": email,
            "filters": filters}
    res = site.call("POST", "/subscriptions", "admin", json=body)
    assert res.status_code == 201, res.text
    return res.json()


def _upload(site: Site, clip: Path, reference: str) -> int:
    incident = site.call("POST", "/incidents", "control_room", json={"reference": reference}).json()["id"]
    with clip.open("rb") as f:
        res = site.call("POST", f"/incidents/{incident}/evidence", "control_room", files={"file": (clip.name, f)})
    assert res.status_code == 201, res.text
    return int(incident)


def test_a_candidate_reaches_a_signed_webhook_and_an_email_and_a_flaky_receiver_gets_it_once(site, clips):
    ok, flaky = Receiver(), Receiver(script=["500", "500", "500"])
    try:
        good = _subscribe(site, ["candidate"], url=ok.url)
        bad = _subscribe(site, ["candidate"], url=flaky.url)
        _subscribe(site, ["candidate"], email="duty.inspector@force.example")
        assert good["secret"] and good["secret"] != bad["secret"] and good["state"] == "active"
        _upload(site, clips["street"], "INC-WEBHOOK")

        got = ok.wait_for(2)  # Gordon_Brown and Kim_Clijsters
        for r in got:
            assert signature_ok(str(good["secret"]), r), r.headers
            assert not signature_ok(str(bad["secret"]), r)  # each subscription signs with its own secret
            event = r.event
            assert r.headers["x-evidence-event-id"] == event["id"] and event["type"] == "candidate"
            assert event["incident"]["reference"] == "INC-WEBHOOK"
            assert event["data"]["subject"] in ("Gordon_Brown", "Kim_Clijsters") and event["data"]["alert_id"]
            assert event["data"]["crop_url"].startswith("/candidates/")  # a link that needs an account
        ids = {r.event["id"] for r in got}

        # 500, 500, 500, then 200: each event accepted exactly once, after four attempts for the first.
        accepted = flaky.wait_for(len(ids), timeout_s=60)
        assert sorted(r.event["id"] for r in accepted) == sorted(ids)
        assert len(flaky.received) == len(ids) + 3
        log = site.call("GET", "/deliveries", "admin", params={"subscription": bad["id"], "reason": "test"}).json()
        assert {d["state"] for d in log} == {"delivered"}
        first = min(log, key=lambda d: d["id"])
        assert first["attempts"] == 4 and [a["status"] for a in first["log"]] == [500, 500, 500, 200]

        end = time.monotonic() + 30
        while time.monotonic() < end and len(_mails_to(site, "duty.inspector@force.example")) < 2:
            time.sleep(0.1)
        assert _mails_to(site, "duty.inspector@force.example") == ["[Evidence] candidate on INC-WEBHOOK"] * 2
        with site.rt().sessions() as s:
            assert s.scalar(select(AuditEntry).where(AuditEntry.action == "deliveries.view",
                                                     AuditEntry.reason == "test")) is not None
    finally:
        ok.close()
        flaky.close()


def _ago(seconds: float) -> str:
    return (datetime.now(UTC) - timedelta(seconds=seconds)).isoformat()


def _mails_to(site: Site, to: str) -> list[str]:
    return [m["Subject"] for m in list(site.mailbox.messages) if m["To"] == to]


def test_a_hit_on_an_entry_with_no_incident_reaches_the_desk_and_its_subscribers(site):
    hook = Receiver()
    escalations = Receiver()
    try:
        _subscribe(site, ["anpr.hit"], url=hook.url, hotlist_category="stolen")
        _subscribe(site, ["alert.escalated"], url=escalations.url)
        entry = site.call("POST", "/hotlist", "control_room",
                          json={"vrm": "AB12CDE", "reason": "stolen last night", "category": "stolen"})
        assert entry.status_code == 201 and entry.json()["incident_id"] is None
        read = {"camera_id": "CAM-7", "timestamp": _ago(60), "vrm": "AB12CDE", "confidence": 0.97,
                "location": {"lat": 51.5, "lon": -0.12}}
        assert site.call("POST", "/anpr/reads", "camera", json=read).json()["hit"] is True

        event = hook.wait_for(1)[0].event
        assert event["type"] == "anpr.hit" and event["incident"] is None and event["data"]["hotlist_vrm"] == "AB12CDE"
        feed = site.call("GET", "/alerts/events", "control_room", params={"max_s": 1}).text
        assert "event: anpr.hit" in feed and f'"alert_id": {event["data"]["alert_id"]}' in feed
        open_alerts = site.call("GET", "/alerts", "control_room").json()
        alert = next(a for a in open_alerts if a["id"] == event["data"]["alert_id"])
        assert alert["kind"] == "anpr.hit" and alert["incident"] is None and "AB12CDE" in alert["summary"]

        # Acknowledged by a named person, once.
        ack = site.call("POST", f"/alerts/{alert['id']}/acknowledge", "control_room", json={"note": "unit 4 sent"})
        assert ack.status_code == 200
        assert ack.json()["acknowledged_by"] == "PC 1234 Smith" and ack.json()["note"] == "unit 4 sent"
        again = site.call("POST", f"/alerts/{alert['id']}/acknowledge", "admin", json={"note": "me too"})
        assert again.status_code == 409 and "PC 1234 Smith" in again.json()["message"]

        # Another hit nobody acknowledges: escalated after EVIDENCE_ALERT_ESCALATE_S, to the desk and its subscriber.
        assert site.call("POST", "/anpr/reads", "camera", json={**read, "timestamp": _ago(30)}
                         ).json()["hit"] is True
        end = time.monotonic() + 30
        while time.monotonic() < end and not [r for r in escalations.accepted() if "AB12CDE" in r.body.decode()]:
            time.sleep(0.1)
        escalated = next(r.event for r in escalations.accepted() if "AB12CDE" in r.body.decode()
                         and r.event["data"]["alert_id"] != alert["id"])
        assert escalated["type"] == "alert.escalated" and "AB12CDE" in escalated["data"]["summary"]
        later = {a["id"]: a for a in site.call("GET", "/alerts", "control_room", params={"state": "all"}).json()}
        assert later[escalated["data"]["alert_id"]]["escalated_at"] is not None
        assert later[alert["id"]]["escalated_at"] is None  # acknowledged in time
        with site.rt().sessions() as s:
            actions = {(e.action, e.actor) for e in s.scalars(select(AuditEntry).where(
                AuditEntry.action.in_(("alert.acknowledge", "alert.escalate"))))}
        assert ("alert.acknowledge", "PC 1234 Smith") in actions and ("alert.escalate", "desk") in actions
    finally:
        hook.close()
        escalations.close()


def test_an_alert_sent_to_an_officer_is_delivered_and_the_officers_answer_reaches_the_desk(site):
    """Issue 28 (1): a hit sent to an officer's device (email, through the real SMTP server) after it
    was acknowledged; the desk's alert card says delivered; the officer's link answers "attending"
    (an unknown answer is refused), which reaches the desk's live feed, the card, and the audit log."""
    device = site.call("POST", "/subscriptions", "admin", json={
        "name": "PC 7 Ahmed (phone)", "purpose": "device", "channel": "email", "email": "pc7@force.example"}).json()
    site.call("POST", "/hotlist", "control_room", json={"vrm": "LM21XYZ", "reason": "used in a robbery",
                                                        "category": "wanted"})
    read = {"camera_id": "CAM-7", "timestamp": _ago(20), "vrm": "LM21XYZ", "confidence": 0.95}
    assert site.call("POST", "/anpr/reads", "camera", json=read).json()["hit"] is True
    alert = next(a for a in site.call("GET", "/alerts", "control_room").json() if "LM21XYZ" in a["summary"])
    site.call("POST", f"/alerts/{alert['id']}/acknowledge", "control_room", json={"note": "checking"})
    sent = site.call("POST", f"/alerts/{alert['id']}/send", "control_room",
                     json={"device_id": device["id"], "note": "white van, two up"})
    assert sent.status_code == 200, sent.text
    end = time.monotonic() + 60
    while time.monotonic() < end and not [m for m in site.mailbox.messages if m["To"] == "pc7@force.example"]:
        time.sleep(0.05)
    mail = next(m for m in site.mailbox.messages if m["To"] == "pc7@force.example")
    path = re.search(r"/o/[A-Za-z0-9_-]{16,}", mail.as_string()).group(0)
    with site.rt().sessions() as s:
        assert s.scalars(select(Delivery).where(Delivery.target == "pc7@force.example")).one().state == "delivered"
    refused = httpx.post(f"{site.base}{path}/reply", data={"reply": "ignoring"})
    assert refused.status_code == 422 and "received, attending" in refused.text
    answered = httpx.post(f"{site.base}{path}/reply", data={"reply": "attending"})
    assert answered.status_code == 200 and "The control room can see that you are attending" in answered.text
    feed = site.call("GET", "/alerts/events", "control_room", params={"max_s": 1}).text
    assert "event: alert.reply" in feed and '"reply": "attending"' in feed
    with site.rt().sessions() as s:
        actions = [(e.action, e.detail) for e in s.scalars(select(AuditEntry).where(
            AuditEntry.action == "alert.share_reply"))]
    assert actions == [("alert.share_reply", {"reply": "attending", "device": "PC 7 Ahmed (phone)"})]


def _tus_upload(base: str, token: str, clip: Path, email: str) -> dict[str, object]:
    meta = ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in
                    (("filename", clip.name), ("updates_email", email), ("caption", "they threw fireworks")))
    data = clip.read_bytes()
    head = {"Tus-Resumable": "1.0.0"}
    created = httpx.post(f"{base}/public/tus/{token}", headers={**head, "Upload-Length": str(len(data)),
                                                                 "Upload-Metadata": meta})
    assert created.status_code == 201, created.text
    url = base + created.headers["location"]
    sent = httpx.patch(url, content=data, timeout=60, headers={**head, "Upload-Offset": "0",
                                                                "Content-Type": "application/offset+octet-stream"})
    assert sent.status_code == 204, sent.text
    receipt: dict[str, object] = httpx.get(f"{url}/receipt").json()
    return receipt


H1 = '<h1 class="govuk-heading-l">'


def _wait_page(base: str, path: str, text: str, timeout_s: float = 90) -> str:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        page = httpx.get(base + path).text
        if text in page:
            return page
        time.sleep(0.3)
    raise AssertionError(f"{text!r} never on {path}")


def test_witness_status_page_and_one_email_per_step(site, clips):
    incident = site.call("POST", "/incidents", "control_room",
                         json={"reference": "INC-WITNESS", "title": "Fireworks at 12 Elm Road"}).json()["id"]
    link = site.call("POST", f"/incidents/{incident}/upload-links", "control_room", json={}).json()
    token = link["token"]
    bad = httpx.post(f"{site.base}/public/tus/{token}", headers={
        "Tus-Resumable": "1.0.0", "Upload-Length": "10",
        "Upload-Metadata": "updates_email " + base64.b64encode(b"not an address").decode()})
    assert bad.status_code == 422 and "email address" in bad.json()["message"]  # refused before any byte

    receipt = _tus_upload(site.base, token, clips["street"], "witness@example.org")
    status = str(receipt["status_url"])
    _wait_page(site.base, status, f"{H1}Being examined</h1>")
    # Analysed: the potential matches wait for review, so the video is still being examined.
    detail = {}
    end = time.monotonic() + 120
    while time.monotonic() < end:
        detail = site.call("GET", f"/incidents/{incident}", "control_room").json()
        if detail["evidence"] and detail["evidence"][0]["state"] == "done":
            break
        time.sleep(0.5)
    candidates = detail["evidence"][0]["candidates"]
    assert candidates
    for c in candidates:
        assert site.call("POST", f"/candidates/{c['id']}/review", "control_room",
                         json={"decision": "rejected", "reason": "not them"}).status_code == 200
    _wait_page(site.base, status, f"{H1}Reviewed</h1>")
    assert site.call("POST", f"/incidents/{incident}/public-updates", "control_room",
                     json={"text": "An officer is on the way"}).status_code == 201
    assert site.call("POST", f"/incidents/{incident}/pass", "control_room",
                     json={"reason": "arrests likely"}).status_code == 201
    page = _wait_page(site.base, status, f"{H1}Passed to investigators</h1>")
    assert "An officer is on the way" in page
    for secret in ("INC-WITNESS", "Elm Road", "Gordon_Brown", "Kim_Clijsters", "candidate", "PC 1234 Smith",
                   "/crop", "not them", "arrests likely"):
        assert secret not in page, secret

    def mine() -> list[str]:
        return [m["Subject"] for m in site.mailbox.messages if m["To"] == "witness@example.org"]

    end = time.monotonic() + 30
    while time.monotonic() < end and len(mine()) < 5:
        time.sleep(0.2)
    ref = receipt["reference"]
    assert sorted(mine()) == sorted([f"Your video {ref}: Received", f"Your video {ref}: Being examined",
                                     f"Your video {ref}: Reviewed", f"Your video {ref}: Passed to investigators",
                                     f"Your video {ref}: an update from the police"]), mine()
    message = next(m for m in site.mailbox.messages if m["To"] == "witness@example.org")
    assert "".join(message["List-Unsubscribe"].split()) == f"<https://evidence.force.example{status}/stop>"
    body = message.get_payload(decode=True).decode()
    assert f"https://evidence.force.example{status}" in body
    assert "Gordon" not in body and "INC-WITNESS" not in body

    # One click stops them: nothing more is sent for this video.
    stopped = httpx.post(f"{site.base}{status}/stop")
    assert stopped.status_code == 200 and "We will not email you" in stopped.text
    site.call("POST", f"/incidents/{incident}/public-updates", "control_room", json={"text": "Thank you"})
    time.sleep(2)
    assert len(mine()) == 5
    assert "Thank you" in httpx.get(site.base + status).text  # the page still shows it


def test_a_partner_agency_hears_of_evidence_on_its_incident_type_without_the_evidence(site, clips):
    partner = Receiver()
    try:
        _subscribe(site, ["evidence.received"], url=partner.url, incident_type="antisocial behaviour")
        site.call("POST", "/incidents", "control_room", json={"reference": "INC-ASB", "incident_type": "antisocial behaviour"})
        site.call("POST", "/incidents", "control_room", json={"reference": "INC-OTHER", "incident_type": "burglary"})
        _upload(site, clips["empty"], "INC-ASB")
        _upload(site, clips["empty"], "INC-OTHER")
        event = partner.wait_for(1)[0].event
        time.sleep(1.5)
        assert len(partner.accepted()) == 1  # the burglary's evidence was not for them
        assert event["incident"]["reference"] == "INC-ASB" and event["incident"]["type"] == "antisocial behaviour"
        assert set(event["data"]) == {"evidence_id"}  # which evidence, never its name, hash or content
    finally:
        partner.close()


def test_refused_webhook_targets_and_addresses(site):
    for url, why in (("ftp://example.org/hook", "http:// or https://"),
                     ("http://169.254.169.254/latest/meta-data", "cloud metadata"),
                     ("http://[fe80::1]/hook", "link-local"), ("http://0.0.0.0/hook", "not a host address"),
                     ("http://user:pw@example.org/hook", "no user name")):
        res = site.call("POST", "/subscriptions", "admin", json={"name": "x", "events": ["candidate"],
                                                                 "channel": "webhook", "url": url})
        assert res.status_code == 422 and why in res.json()["message"], (url, res.text)
    res = site.call("POST", "/subscriptions", "admin", json={"name": "x", "events": ["candidate"], "channel": "email",
                                                             "email": "someone@@example"})
    assert res.status_code == 422 and "not an email address" in res.json()["message"]
    res = site.call("POST", "/subscriptions", "admin", json={"name": "x", "events": ["no.such"], "channel": "email",
                                                             "email": "a@example.org"})
    assert res.status_code == 422
    assert site.call("POST", "/subscriptions", "control_room", json={}).status_code == 403
    # Without EVIDENCE_WEBHOOK_ALLOW_PRIVATE: private and loopback addresses too.
    for url in ("http://127.0.0.1:9/hook", "http://10.1.2.3/hook", "http://[::1]/hook", "http://localhost/hook"):
        with pytest.raises(InvalidRequest, match="private or loopback"):
            check_webhook(url, allow_private=False)
    assert check_webhook("https://8.8.8.8/hook", allow_private=False)  # a public address


def test_a_hanging_receiver_times_out_and_holds_up_no_one_else(site):
    hanging, fine = Receiver(default="hang", hang_s=20), Receiver()
    try:
        stuck = _subscribe(site, ["anpr.hit"], url=hanging.url, hotlist_category="wanted")
        _subscribe(site, ["anpr.hit"], url=fine.url, hotlist_category="wanted")
        site.call("POST", "/hotlist", "control_room", json={"vrm": "XY99ZZZ", "reason": "wanted", "category": "wanted"})
        for i in range(5):
            read = {"camera_id": "CAM-7", "timestamp": _ago(50 - i), "vrm": "XY99ZZZ", "confidence": 0.9}
            assert site.call("POST", "/anpr/reads", "camera", json=read).json()["hit"] is True
        got = fine.wait_for(5, timeout_s=60)
        tried: list[dict[str, object]] = []
        end = time.monotonic() + 60
        while time.monotonic() < end and not tried:  # its first attempt times out (EVIDENCE_WEBHOOK_TIMEOUT_S=2)
            log = site.call("GET", "/deliveries", "admin", params={"subscription": stuck["id"], "reason": "t"}).json()
            tried = [d for d in log if d["attempts"]]
            time.sleep(0.2)
        assert tried and tried[0]["last_error"] == "no answer within 2 s" and tried[0]["state"] == "pending"
        gave_up_at = datetime.fromisoformat(str(tried[0]["log"][0]["at"])).timestamp()  # type: ignore[index]
        assert max(r.at for r in got) < gave_up_at  # the others had theirs before it even timed out
        assert len(hanging.received) <= 2  # backing off, not hammering it
    finally:
        hanging.close()
        fine.close()


def _descendants(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout.split()
    return [int(p) for p in out] + [d for p in out for d in _descendants(int(p))]


def test_a_worker_killed_mid_delivery_still_delivers_once(tmp_path, redis_url, monkeypatch):
    from evidence.audit import Actor
    from evidence.events import add_event
    from evidence.notify.subscriptions import create_subscription

    receiver = Receiver(script=["hang"], hang_s=60)
    mailbox = Mailbox()
    env = {**_env(tmp_path / "data", mailbox), "EVIDENCE_REDIS_URL": redis_url, "EVIDENCE_WEBHOOK_TIMEOUT_S": "3"}
    for k, v in env.items():  # this process writes the event as the API would
        monkeypatch.setenv(k, v)
    try:
        rt = Runtime(Settings())
        create_subscription(rt, Actor("test", "admin"), name="kill", purpose="subscriber", events=["evidence.failed"],
                            channel="webhook", target=receiver.url, filters={})
        with rt.sessions.begin() as s:
            add_event(s, None, "evidence.failed", {"evidence_id": 1, "reason": "test"})
        worker = subprocess.Popen([EVIDENCE, "worker"], env=env, start_new_session=True,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        receiver.wait_for(1, timeout_s=60, accepted=False)  # the send is in flight; the receiver holds it
        for pid in _descendants(worker.pid) + [worker.pid]:
            os.kill(pid, signal.SIGKILL)
        worker.wait()
        with rt.sessions() as s:
            d = s.scalars(select(Delivery)).one()
            assert d.state == "pending" and d.attempts == 0  # nothing recorded: the lease will lapse
        time.sleep(1 + 2 * 3 + 5 + 0.5)  # the dead sender's lease runs out (evidence.notify.deliver.lease_s)
        run("worker", "--burst", env=env)  # a new worker: it sends what is due
        accepted = receiver.wait_for(1, timeout_s=30)
        assert len(accepted) == 1 and accepted[0].event["type"] == "evidence.failed"
        with rt.sessions() as s:
            d = s.scalars(select(Delivery)).one()
            assert d.state == "delivered" and d.attempts == 1
    finally:
        receiver.close()
        mailbox.close()


@pytest.fixture
def redis_url() -> Iterator[str]:
    from tests.test_workers import RedisServer

    server = RedisServer(free_port())
    server.start()
    yield f"redis://127.0.0.1:{server.port}/0"
    server.stop()


def test_superseded_and_withdrawn_matches_close_their_alerts(env, clips, watchlist_dir, monkeypatch):
    """The keyframe quick pass raises early alerts; the full pass supersedes its matches. Their
    alerts must not stay open (and escalate): the pipeline closes them, saying why."""
    from evidence.db.outbox_tables import Alert
    from evidence.db.tables import CandidateRow

    monkeypatch.setenv("EVIDENCE_QUICK_PASS_MIN_S", "0")  # the quick pass on a short clip too
    monkeypatch.setenv("EVIDENCE_PLATES", "false")
    run("watchlist", "import", watchlist_dir, env=dict(os.environ))
    run("process", clips["street"], "--incident", "INC-QUICK", env=dict(os.environ))
    with Runtime(Settings()).sessions() as s:
        states = {c.id: c.review_state for c in s.scalars(select(CandidateRow))}
        alerts = list(s.scalars(select(Alert).where(Alert.kind == "candidate")))
    assert "superseded" in states.values() and "pending" in states.values()
    open_alerts = [a for a in alerts if a.acknowledged_at is None]
    assert len(open_alerts) == list(states.values()).count("pending")
    closed = [a for a in alerts if a.acknowledged_at is not None]
    assert closed and {a.acknowledged_by for a in closed} == {"pipeline"}
    assert {a.ack_note for a in closed} <= {"superseded by the full analysis", "withdrawn by the analysis"}


@pytest.mark.parametrize(("typed", "taken"), [("07700 900 982", "07700900982"), ("+44 7700 900982", "+447700900982"),
                                               ("(07700) 900-982", "07700900982"), ("+33 6 12 34 56 78", "+33612345678")])
def test_a_mobile_number_is_taken_as_notify_takes_it(typed: str, taken: str) -> None:
    from evidence.notify.govnotify import check_mobile

    assert check_mobile(typed) == taken


@pytest.mark.parametrize(("typed", "why"), [("", "Enter a mobile phone number"), ("0770 090", "correct format"),
                                             ("020 7946 0000", "correct format"), ("07700 9OO 982", "only numbers"),
                                             ("+44 20 7946 0000", "correct format")])
def test_a_number_notify_would_not_text_is_refused_in_words(typed: str, why: str) -> None:
    from evidence.notify.govnotify import check_mobile

    with pytest.raises(ValueError, match=why):
        check_mobile(typed)


@pytest.mark.parametrize(("host", "why"), [
    ("[::127.0.0.1]", "loopback"), ("[64:ff9b::7f00:1]", "loopback"), ("[64:ff9b::a9fe:a9fe]", "cloud metadata"),
    ("[2002:7f00:1::]", "loopback"), ("[2002:a9fe:a9fe::1]", "cloud metadata"),
    ("[2001:0:4136:e378:8000:63bf:80ff:fffe]", "loopback"), ("[64:ff9b:1::a9fe:a9fe]", "local-use NAT64")])
def test_loopback_and_metadata_written_in_ipv6_are_still_refused(host: str, why: str) -> None:
    """Issue 29 (9): the IPv4 address an IPv6 one carries (the old compatible form, NAT64, 6to4,
    Teredo) is checked as itself — with private addresses allowed, metadata still is not."""
    with pytest.raises(InvalidRequest, match=why):
        check_webhook(f"http://{host}/hook", allow_private=False, resolve=False)
    if why in ("cloud metadata", "local-use NAT64"):
        with pytest.raises(InvalidRequest, match=why):
            check_webhook(f"http://{host}/hook", allow_private=True, resolve=False)
    assert check_webhook("http://[64:ff9b::808:808]/hook", allow_private=False, resolve=False)  # NAT64 to a public one


def test_a_line_break_in_a_subject_is_sent_on_one_line(tmp_path: Path) -> None:
    """Issue 29 (8): a reference or name with a line break in an email's subject made every attempt
    fail (and held back that recipient's next alerts): it is sent on one line, adding no header."""
    from evidence.notify.send import send_email
    from evidence.settings import Settings

    box = Mailbox()
    try:
        settings = Settings(data_dir=tmp_path, smtp_host="127.0.0.1", smtp_port=box.port, smtp_tls="none")
        out = send_email(settings, "desk@force.example", "[Evidence] anpr.hit on INC-1\r\nBcc: x@elsewhere.example",
                         "text", {"X-Evidence-Event-Id": "7\n8"})
        assert out.ok, out
        (msg,) = box.wait_for(1)
        assert msg["Subject"] == "[Evidence] anpr.hit on INC-1 Bcc: x@elsewhere.example" and msg["Bcc"] is None
        assert msg["X-Evidence-Event-Id"] == "7 8"
    finally:
        box.close()
