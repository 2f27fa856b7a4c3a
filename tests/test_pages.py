"""The pages over HTTP, as a browser sends them: signing in as a named person (one-time password,
then their own), sessions that end (sign-out, idle, disabled), CSRF on every form and on the API
called with the cookie, failed sign-ins rate limited, the pages' roles, the witness's resumable
upload (tus) with a receipt, and security headers. The browser itself: tests/test_browser.py."""

from __future__ import annotations

import base64
import json
import re
import zipfile
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from api.main import create_app
from evidence.audit import Actor
from evidence.db.tables import AnprRead, AuditEntry, Evidence, User, WebSession
from evidence.db.upload_tables import ResumableUpload
from evidence.keys import create_key
from evidence.settings import Settings
from evidence.uploads import create_link
from evidence.users import add_user, disable_user
from evidence.utc import utcnow
from evidence.work import get_or_create_incident

ADMIN = Actor("test-admin", "admin")
PASSWORD = "correct horse battery"


@pytest.fixture
def site(env, face_models):
    app = create_app(Settings(working_copy=False, plates=False, auth_failures_per_min=5))
    rt = app.state.runtime
    rt.faces = face_models
    with rt.sessions.begin() as s:
        get_or_create_incident(s, "INC-PAGES").title = "fireworks at a house"
        get_or_create_incident(s, "INC-OTHER").title = "another incident"
    return app, rt


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


def sign_in(client: TestClient, name: str, password: str, next_url: str = "") -> object:
    form = client.get("/signin")
    return client.post("/signin", data={"name": name, "password": password, "csrf_token": _csrf(form.text),
                                        "next": next_url}, follow_redirects=False)


def person(rt, client: TestClient, name: str = "PC 1234 Smith", role: str = "control_room") -> str:
    """A signed-in person with their own password; returns the page's CSRF token."""
    _, one_time = add_user(rt, name, role, ADMIN)
    first = sign_in(client, name, one_time)
    assert first.status_code == 303 and first.headers["location"] == "/password"
    page = client.get("/password")
    chosen = client.post("/password", data={"current": one_time, "new": PASSWORD, "again": PASSWORD,
                                            "csrf_token": _csrf(page.text)}, follow_redirects=False)
    assert chosen.status_code == 303, chosen.text
    return _csrf(client.get("/").text)  # their first page


def test_cli_adds_a_person_and_prints_the_one_time_password_last(cli, env):
    res = cli("users", "add", "--name", "PC 1234 Smith", "--role", "control_room")
    assert res.exit_code == 0, res.output
    password = res.output.split()[-1]
    assert len(password) >= 12
    app = create_app(Settings())
    client = TestClient(app)
    assert sign_in(client, "PC 1234 Smith", password).headers["location"] == "/password"
    listed = cli("users", "list")
    assert "PC 1234 Smith" in listed.output and "control_room" in listed.output
    again = cli("users", "add", "--name", "PC 1234 Smith", "--role", "admin")
    assert again.exit_code == 2 and "already called" in again.output


def test_sign_in_first_password_then_own_and_everything_is_named(site):
    app, rt = site
    client = TestClient(app)
    assert client.get("/app/incidents", follow_redirects=False).headers["location"] == "/signin?next=/app/incidents"
    csrf = person(rt, client)
    cookie = next(c for c in client.cookies.jar if c.name == "ep_session")
    assert cookie.has_nonstandard_attr("HttpOnly") and cookie.get_nonstandard_attr("SameSite", "").lower() == "lax"
    page = client.get("/app/incidents")
    assert page.status_code == 200 and "INC-PAGES" in page.text and "PC 1234 Smith" in page.text
    opened = client.post("/app/incidents", data={"reference": "INC-NEW", "title": "bins on fire", "csrf_token": csrf},
                         follow_redirects=False)
    assert opened.status_code == 303
    board = client.get(opened.headers["location"])
    assert "INC-NEW" in board.text and "bins on fire" in board.text
    signed_out = client.post("/signout", data={"csrf_token": csrf}, follow_redirects=False)
    assert signed_out.headers["location"] == "/signin"
    assert client.get("/app/incidents", follow_redirects=False).status_code == 303
    with rt.sessions() as s:
        named = {(e.actor, e.action) for e in s.scalars(select(AuditEntry))}
    assert {("PC 1234 Smith", "user.signin"), ("PC 1234 Smith", "user.password"), ("PC 1234 Smith", "incident.open"),
            ("PC 1234 Smith", "incident.view"), ("PC 1234 Smith", "user.signout")} <= named


def test_wrong_passwords_slow_the_guesser_and_never_lock_the_owner_out(site):
    """Issue 29 (7): ten wrong passwords for one name made the right one 429 for a minute (anyone
    could lock a colleague out), and failures from one address locked everyone behind it out. Now
    a name's failures slow that name's next attempts (one at a time from an address, each waiting
    up to 3 s) and the right password still signs in; an address is refused only far past what
    people mistype (10 × EVIDENCE_AUTH_FAILURES_PER_MIN a minute)."""
    import time

    app, rt = site
    _, owner = add_user(rt, "PC 9 Jones", "control_room", ADMIN)
    add_user(rt, "PC 10 Khan", "control_room", ADMIN)
    attacker = TestClient(app, client=("203.0.113.9", 50000))
    wrong = sign_in(attacker, "PC 9 Jones", "not the password")
    assert wrong.status_code == 401 and "That name and password do not match" in wrong.text
    assert [sign_in(attacker, "PC 9 Jones", f"guess {n}").status_code for n in range(9)] == [401] * 9
    started = time.monotonic()
    assert sign_in(attacker, "PC 9 Jones", "guess 10").status_code == 401
    assert time.monotonic() - started >= 0.5  # slowed down, not refused
    right = sign_in(TestClient(app, client=("198.51.100.4", 50000)), "PC 9 Jones", owner)  # the owner, elsewhere
    assert right.status_code == 303, right.text[-500:]
    colleague = TestClient(app, client=("203.0.113.9", 50001))  # behind the same address as the guesser
    assert sign_in(colleague, "PC 10 Khan", "typo").status_code == 401
    spray = TestClient(app, client=("192.0.2.7", 50000))  # many names from one address: refused past 10 × 5
    statuses = [sign_in(spray, f"nobody {n}", "x").status_code for n in range(51)]
    assert statuses[:50] == [401] * 50 and statuses[50] == 429, statuses
    limited = sign_in(spray, "nobody", "x")
    assert "Too many failed sign-ins from this network" in limited.text and int(limited.headers["Retry-After"]) >= 1
    with rt.sessions() as s:
        failed = s.scalars(select(AuditEntry).where(AuditEntry.action == "user.signin_failed")).all()
    assert failed and all(e.detail["address"] for e in failed)


def idle_for(rt, minutes: float) -> None:
    """Every session as if nothing had been done in it for ``minutes`` (the server's clock)."""
    with rt.sessions.begin() as s:
        s.execute(update(WebSession).values(seen_at=utcnow() - timedelta(minutes=minutes)))


def test_sessions_end_when_idle_when_disabled_and_the_one_time_password_must_change(site):
    app, rt = site
    client = TestClient(app)
    _, one_time = add_user(rt, "DC 5 Patel", "investigator", ADMIN)
    sign_in(client, "DC 5 Patel", one_time)
    assert client.get("/app/incidents", follow_redirects=False).headers["location"] == "/password"
    refused = client.get("/incidents")
    assert refused.status_code == 403 and "password" in refused.json()["message"]

    other = TestClient(app)
    person(rt, other, "PC 7 Brown")
    assert other.get("/app/incidents").status_code == 200
    idle_for(rt, 31)  # past EVIDENCE_SESSION_IDLE_MIN
    expired = other.get("/app/incidents", follow_redirects=False)
    assert expired.status_code == 303 and expired.headers["location"].startswith("/signin")
    api = other.get("/incidents")
    assert api.status_code == 401 and "session has ended" in api.json()["message"]

    third = TestClient(app)
    person(rt, third, "PC 8 Green")
    with rt.sessions() as s:
        green = s.scalar(select(User.id).where(User.name == "PC 8 Green"))
    disable_user(rt, green, ADMIN)
    assert third.get("/app/incidents", follow_redirects=False).status_code == 303
    assert sign_in(TestClient(app), "PC 8 Green", PASSWORD).status_code == 401


def test_a_page_refreshing_itself_is_not_activity_and_does_not_keep_an_unattended_session(site):
    """A live board's own fetches (a card redrawn because an event arrived, an export's progress)
    say so (X-EP-Refresh): a control-room screen nobody touches still signs out when idle, however
    busy the feed. What the person does (a page opened, a form or API call sent) is activity."""
    app, rt = site
    client = TestClient(app)
    person(rt, client, "PC 11 Hart")

    def left() -> float:
        return client.get("/app/session").json()["seconds_left"]

    idle_for(rt, 28.5)
    refresh = {"X-EP-Refresh": "1"}
    assert client.get("/app/incidents", headers=refresh).status_code == 200  # still signed in: it answers
    assert client.get("/incidents", headers=refresh).status_code == 200
    assert left() < 2 * 60  # but the end has not moved
    assert client.get("/app/incidents").status_code == 200  # the person opens a page
    assert left() > 29 * 60
    idle_for(rt, 31)
    assert client.get("/app/incidents", headers=refresh, follow_redirects=False).status_code == 303


def test_forms_and_api_calls_need_the_csrf_token(site):
    app, rt = site
    client = TestClient(app)
    csrf = person(rt, client)
    forged = client.post("/app/incidents", data={"reference": "INC-FORGED"})
    assert forged.status_code == 403 and "did not come from this site" in forged.text
    assert "<html" in forged.text.lower()  # a page, not JSON
    assert client.post("/app/incidents", data={"reference": "INC-FORGED", "csrf_token": "x" * 40}).status_code == 403
    api = client.post("/incidents", json={"reference": "INC-FORGED"})
    assert api.status_code == 403 and "X-CSRF-Token" in api.json()["message"]
    ok = client.post("/incidents", json={"reference": "INC-API-COOKIE"}, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 201
    assert client.get("/incidents").status_code == 200  # reads need no token
    with rt.sessions() as s:
        assert s.scalar(select(AuditEntry.actor).where(AuditEntry.target == f"incident:{ok.json()['id']}")) == \
            "PC 1234 Smith"
    # The board's forms for the public: refused without the token, then posted and audited by name.
    incident = ok.json()["id"]
    assert client.post(f"/app/incidents/{incident}/public-update", data={"text": "On the way"}).status_code == 403
    assert client.post(f"/app/incidents/{incident}/pass", data={"reason": "done"}).status_code == 403
    done = client.post(f"/app/incidents/{incident}/public-update", data={"text": "An officer is on the way",
                                                                          "csrf_token": csrf}, follow_redirects=False)
    assert done.status_code == 303
    assert client.post(f"/app/incidents/{incident}/pass", data={"reason": " ", "csrf_token": csrf}).status_code == 422
    with rt.sessions() as s:
        assert s.scalar(select(AuditEntry.actor).where(AuditEntry.action == "incident.public_update")) == "PC 1234 Smith"


def test_pages_keep_to_the_roles(site):
    app, rt = site
    control = TestClient(app)
    person(rt, control)
    assert control.get("/app/admin/users").status_code == 403
    assert "cannot use this page" in control.get("/app/admin/users").text
    assert control.get("/app/incidents/1/export").status_code == 403
    investigator = TestClient(app)
    person(rt, investigator, "DC 5 Patel", "investigator")
    assert investigator.get("/app/incidents/1/export").status_code == 200
    assert investigator.post("/app/incidents/1/upload-link", data={}).status_code == 403
    admin = TestClient(app)
    person(rt, admin, "Admin Lee", "admin")
    for path in ("/app/admin/users", "/app/admin/watchlist", "/app/admin/keys", "/app/admin/audit", "/app/hotlist"):
        assert admin.get(path).status_code == 200, path
    verified = admin.get("/app/admin/audit?verify=yes")
    assert "The chain is intact" in verified.text


def test_pages_speak_plain_words_when_a_request_is_wrong(site):
    """Issue 28 (8): people, not programs — no field paths, no validator's own words."""
    app, rt = site
    client = TestClient(app)
    csrf = person(rt, client, "DC 5 Patel", "investigator")
    wrong_address = client.get("/app/incidents/abc")
    assert wrong_address.status_code == 404 and "There is no such page" in wrong_address.text
    assert "path." not in wrong_address.text and "Input should" not in wrong_address.text
    star = client.get("/app/search/plates", params={"q": "*", "reason": "op X"})
    assert "Give at least one letter or number of the registration" in star.text and "has no letters" not in star.text
    page = client.get("/app/search/faces")
    assert "type=\"date\"" not in page.text and 'id="since-day"' in page.text  # the GOV.UK date input
    refused = client.post("/app/search/faces", data={"csrf_token": csrf, "reason": "op X", "since-day": "30",
                                                     "since-month": "2", "since-year": "2026"})
    assert refused.status_code == 422 and "<title>Error: " in refused.text
    assert '<a href="#since-day">Received from must be a real date' in refused.text
    assert 'value="30"' in refused.text and 'value="op X"' in refused.text  # kept


def test_a_reference_typed_in_another_case_opens_the_same_incident(site):
    """Issue 28: "inc-pages" and " INC-PAGES" are incident INC-PAGES, never a second incident."""
    app, rt = site
    client = TestClient(app)
    csrf = person(rt, client)
    opened = {client.post("/app/incidents", data={"reference": typed, "csrf_token": csrf},
                          follow_redirects=False).headers["location"] for typed in ("inc-pages", " INC-PAGES ", "Inc-Pages")}
    assert opened == {"/app/incidents/1"}
    new = client.post("/app/incidents", data={"reference": "inc-new 7", "csrf_token": csrf}, follow_redirects=False)
    assert "INC-NEW 7" in client.get(new.headers["location"]).text


def test_an_administrator_changes_a_role_and_resets_a_forgotten_password(site):
    """Issue 28 (administration): a role changed takes effect at the person's next page; a reset
    password is confirmed first, ends every session the person has and is one-time again."""
    app, rt = site
    admin, smith = TestClient(app), TestClient(app)
    csrf = person(rt, admin, "Admin Lee", "admin")
    person(rt, smith)
    assert smith.get("/app/incidents/1/export").status_code == 403  # control room
    with rt.sessions() as s:
        smith_id = s.scalar(select(User.id).where(User.name == "PC 1234 Smith"))
    changed = admin.post(f"/app/admin/users/{smith_id}/role", data={"role": "investigator", "csrf_token": csrf})
    assert "PC 1234 Smith is now investigator" in changed.text
    assert smith.get("/app/incidents/1/export").status_code == 200  # at once, no new sign-in
    asked = admin.post(f"/app/admin/users/{smith_id}/reset", data={"csrf_token": csrf})
    assert "Reset PC 1234 Smith&#39;s password?" in asked.text and smith.get("/app/incidents").status_code == 200
    reset = admin.post(f"/app/admin/users/{smith_id}/reset", data={"csrf_token": csrf, "confirmed": "yes"})
    one_time = re.search(r'class="ep-mono">([^<]+)<', reset.text).group(1)
    assert "PC 1234 Smith can sign in again" in reset.text
    assert smith.get("/app/incidents", follow_redirects=False).status_code == 303  # signed out everywhere
    again = sign_in(TestClient(app), "PC 1234 Smith", one_time)
    assert again.status_code == 303 and again.headers["location"] == "/password"  # one-time: choose one
    own = admin.post(f"/app/admin/users/{admin_id(rt)}/role", data={"role": "investigator", "csrf_token": csrf})
    assert own.status_code == 422 and "cannot change your own role" in own.text


def admin_id(rt) -> int:
    with rt.sessions() as s:
        return s.scalar(select(User.id).where(User.name == "Admin Lee"))


def test_next_never_leaves_the_site(site):
    app, rt = site
    _, one_time = add_user(rt, "PC 3 Khan", "control_room", ADMIN)
    client = TestClient(app)
    res = sign_in(client, "PC 3 Khan", one_time, next_url="//evil.example/x")
    assert res.headers["location"] == "/password"
    client.post("/password", data={"current": one_time, "new": PASSWORD, "again": PASSWORD,
                                   "csrf_token": _csrf(client.get("/password").text)})
    client.post("/signout", data={"csrf_token": _csrf(client.get("/app/incidents").text)})
    res = sign_in(client, "PC 3 Khan", PASSWORD, next_url="https://evil.example/")
    assert res.headers["location"] == "/app/incidents"


def test_older_reads_asked_for_and_decided_on_the_pages(site):
    """A detective's plate search stops at 90 days and offers to ask; an inspector signs in to the
    requests (and nothing else), refuses a blank reason, approves; the detective searches with it."""
    app, rt = site
    camera = {"Authorization": f"Bearer {create_key(rt, 'CAM-A40-J3', 'camera', ADMIN)[1]}"}
    read = {"camera_id": "CAM-A40-J3", "timestamp": utcnow().isoformat(), "vrm": "XY51ABC", "confidence": 0.9,
            "plate_image": base64.b64encode(b"\xff\xd8\xff\xe0" + b"\0" * 100).decode()}
    dc, insp = TestClient(app), TestClient(app)
    read_id = dc.post("/anpr/reads", headers=camera, json=read).json()["read_id"]
    with rt.sessions.begin() as s:
        s.execute(update(AnprRead).values(read_at=utcnow() - timedelta(days=100)))
    dc_csrf = person(rt, dc, "DC 4411 Jones", "investigator")
    found = dc.get("/app/search/plates", params={"q": "XY51ABC", "reason": "Op Nightjar"})
    assert found.status_code == 200 and "0 sightings" in found.text and "/app/anpr/access?q=XY51ABC" in found.text
    asked = dc.post("/app/anpr/access", data={"q": "XY51ABC", "reason": " ", "csrf_token": dc_csrf})
    assert asked.status_code == 422 and "give a reason" in asked.text
    asked = dc.post("/app/anpr/access", data={"q": "XY51ABC", "reason": "Op Nightjar: the car in August",
                                              "csrf_token": dc_csrf})
    assert asked.status_code == 200 and "waiting for a decision" in asked.text and asked.url.path == "/app/anpr/access"

    insp_csrf = person(rt, insp, "Insp 0192 Khan", "authority")
    start = insp.get("/")
    assert start.url.path == "/app/anpr/access" and "Op Nightjar: the car in August" in start.text
    assert insp.get("/app/incidents").status_code == 403
    # A form sent after the session ended comes back to its page; the inspector is never sent to a page
    # they cannot use, whatever the link they signed in from.
    gone = TestClient(app).post("/app/anpr/access/1/decision", data={"decision": "approved"}, follow_redirects=False,
                                headers={"referer": "http://testserver/app/anpr/access"})
    assert gone.headers["location"] == "/signin?next=/app/anpr/access"
    again = sign_in(TestClient(app), "Insp 0192 Khan", PASSWORD, next_url="/app/incidents/1")
    assert again.headers["location"] == "/app/anpr/access"
    assert insp.post("/app/anpr/access", data={"q": "AB12CDE", "reason": "x", "csrf_token": insp_csrf}).status_code == 403
    assert dc.post("/app/anpr/access/1/decision", data={"decision": "approved", "reason": "mine",
                                                         "csrf_token": dc_csrf}).status_code == 403
    blank = insp.post("/app/anpr/access/1/decision", data={"decision": "approved", "reason": "", "csrf_token": insp_csrf})
    assert blank.status_code == 422 and "give a reason" in blank.text
    approved = insp.post("/app/anpr/access/1/decision", data={"decision": "approved", "csrf_token": insp_csrf,
                                                               "reason": "arson inquiry, proportionate"})
    assert approved.status_code == 200 and "Request 1 from DC 4411 Jones is approved" in approved.text

    mine = dc.get("/app/anpr/access")
    assert "/app/search/plates?q=XY51ABC&amp;access=1" in mine.text and "arson inquiry, proportionate" in mine.text
    followed = dc.get("/app/search/plates", params={"q": "XY51ABC", "access": 1})  # the link: asks why, no error
    assert followed.status_code == 200 and "say why you are searching" in followed.text and "problem" not in followed.text
    other = dc.get("/app/search/plates", params={"q": "AB12CDE", "reason": "Op Nightjar", "access": 1})
    assert other.status_code == 403 and "covers &#39;XY51ABC&#39;, not &#39;AB12CDE&#39;" in other.text
    assert "search the last 90 days without an approval" in other.text and "POST /anpr" not in other.text
    found = dc.get("/app/search/plates", params={"q": "XY51ABC", "reason": "Op Nightjar", "access": 1})
    assert found.status_code == 200 and "1 sighting " in found.text, found.text
    assert dc.get(f"/anpr/reads/{read_id}/plate", params={"access": 1}).status_code == 200
    with rt.sessions() as s:
        decided = s.scalars(select(AuditEntry).where(AuditEntry.action == "anpr.access_approved")).one()
    assert (decided.actor, decided.reason) == ("Insp 0192 Khan", "arson inquiry, proportionate")


def test_an_incident_held_classified_and_reviewed_on_its_retention_page(site):
    app, rt = site
    dc = TestClient(app)
    csrf = person(rt, dc, "DC 4411 Jones", "investigator")
    page = dc.get("/app/incidents/1/retention")
    assert page.status_code == 200 and "unclassified" in page.text and "deleted 31 days after analysis" in page.text

    def change(**form):
        return dc.post("/app/incidents/1/retention", data={"csrf_token": csrf, **form})

    blank = change(action="hold", reason=" ")
    assert blank.status_code == 422 and "give a reason" in blank.text
    assert "</strong> by DC 4411 Jones since" in change(action="hold", reason="Op Nightjar: arson inquiry").text
    classed = change(action="classify", retention_class="mopi_3", reason="charged: assault")
    assert "Classed mopi_3" in classed.text and f"{utcnow().year + 6}" in classed.text
    def day(d: str, m: str, y: str) -> dict[str, str]:  # the GOV.UK date input: day, month and year
        return {"keep_until-day": d, "keep_until-month": m, "keep_until-year": y}

    past = change(action="review", reason="kept", **day("1", "1", "2020"))
    assert past.status_code == 422 and "must be after today" in past.text and 'value="kept"' in past.text
    assert 'href="#keep_until-day"' in past.text and 'id="keep_until-year" name="keep_until-year"' in past.text
    assert 'value="2020"' in past.text  # what was typed, kept
    assert "must include a month" in change(action="review", reason="kept", **day("31", "", "2040")).text
    assert "must be a real date" in change(action="review", reason="kept", **day("31", "2", "2040")).text
    assert "Kept until 31 January 2040" in change(action="review", reason="appeal pending", **day("31", "1", "2040")).text
    assert "Hold released" in change(action="release", reason="inquiry closed").text
    twice = change(action="release", reason="inquiry closed")  # an old tab: refused, not audited again
    assert twice.status_code == 409 and "is not held" in twice.text
    with rt.sessions() as s:
        done = s.scalars(select(AuditEntry).where(AuditEntry.action.like("retention.%")).order_by(AuditEntry.id)).all()
    assert [(e.action, e.actor) for e in done] == [(f"retention.{a}", "DC 4411 Jones")
                                                   for a in ("hold", "classify", "review", "release")]
    control = TestClient(app)
    person(rt, control, "PC 1 Ahmed", "control_room")
    assert control.get("/app/incidents/1/retention").status_code == 403


def test_an_administrator_records_a_lists_authority_creates_a_list_and_enrols_on_it(site, watchlist_dir):
    """The Watchlists page: the upgraded default list's missing authority recorded from its link, a
    new list created (refused without an end date), a person enrolled on it with the photos' source,
    a reason (required) and an expiry; an inspector added on the People page."""
    app, rt = site
    admin = TestClient(app)
    csrf = person(rt, admin, "Admin Lee", "admin")
    page = admin.get("/app/admin/watchlist")
    assert "Not recorded" in page.text and "/app/admin/watchlist?authorise=default#list-form" in page.text
    form = admin.get("/app/admin/watchlist?authorise=default")
    assert "Record the authority of the default list" in form.text
    assert admin.get("/app/admin/watchlist?authorise=nope").status_code == 404
    spec = {"csrf_token": csrf, "mode": "authorise", "name": "default", "purpose": "people wanted on warrant",
            "legal_basis": "common law policing purpose", "category": "wanted", "authorised_by": "",
            "list-expires-day": "30", "list-expires-month": "6", "list-expires-year": "2040", "max_subjects": "500"}
    unnamed = admin.post("/app/admin/watchlist/lists", data=spec)
    assert unnamed.status_code == 422 and 'value="people wanted on warrant"' in unnamed.text
    assert 'id="list-authorised_by-error"' in unnamed.text and "Give the senior officer who authorised it" in unnamed.text
    assert admin.post("/app/admin/watchlist/lists", data=spec | {"authorised_by": "Supt 0456 Patel",
                                                                  "max_subjects": "\u00b2"}).status_code == 422
    done = admin.post("/app/admin/watchlist/lists", data=spec | {"authorised_by": "Supt 0456 Patel"})
    assert "Watchlist default re-authorised: authorised by Supt 0456 Patel until 30 June 2040" in done.text
    assert "Not recorded" not in done.text
    new = spec | {"mode": "create", "name": "fireworks", "authorised_by": "Supt 0456 Patel", "max_subjects": "20"}
    no_end = admin.post("/app/admin/watchlist/lists", data=new | {"list-expires-day": "", "list-expires-month": "",
                                                                  "list-expires-year": ""})
    assert no_end.status_code == 422 and "a list must expire" in no_end.text
    assert "Watchlist fireworks created" in admin.post("/app/admin/watchlist/lists", data=new).text
    assert admin.post("/app/admin/watchlist/lists", data=new).status_code == 409  # the same name twice

    photos = sorted((watchlist_dir / "Tom_Ridge").glob("*.jpg"))[:2]
    files = [("images", (p.name, p.read_bytes(), "image/jpeg")) for p in photos]
    person_on = {"csrf_token": csrf, "watchlist": "fireworks", "name": "Tom Ridge", "source": "custody image CI/2026/0042",
                 "enrol-expires-day": "31", "enrol-expires-month": "1", "enrol-expires-year": "2039"}
    why_not = admin.post("/app/admin/watchlist", data=person_on, files=files)
    assert why_not.status_code == 422 and 'value="custody image CI/2026/0042"' in why_not.text
    assert 'id="enrol-reason-error"' in why_not.text and "Give the reason" in why_not.text
    assert "Choose the photos again" in why_not.text
    enrolled = admin.post("/app/admin/watchlist", data=person_on | {"reason": "seen throwing fireworks, arrest warrant",
                                                                    "risk": "violent when arrested"}, files=files)
    assert "Tom Ridge is on the fireworks list (2 photo(s))" in enrolled.text, enrolled.text[-3000:]
    subject = admin.get("/watchlist").json()
    assert [(w["name"], w["watchlist"], w["source"], w["reason"], w["risk"], w["added_by"], w["expires_at"])
            for w in subject] == [("Tom Ridge", "fireworks", "custody image CI/2026/0042",
                                   "seen throwing fireworks, arrest warrant", "violent when arrested", "Admin Lee",
                                   "2039-01-31T23:59:59Z")]
    again = admin.post("/app/admin/watchlist", data=person_on | {"reason": "arrested: bail conditions"}, files=files[:1])
    assert "Tom Ridge is on the fireworks list" in again.text and "arrested: bail conditions" in again.text
    with rt.sessions() as s:
        audited = s.scalars(select(AuditEntry).where(AuditEntry.action.like("watchlist.%")).order_by(AuditEntry.id)).all()
    assert [(e.action, e.actor) for e in audited] == [("watchlist.authorise", "Admin Lee"), ("watchlist.create", "Admin Lee"),
                                                      ("watchlist.enrol", "Admin Lee"), ("watchlist.enrol", "Admin Lee")]
    assert audited[2].detail["reasons"] == {"Tom Ridge": "seen throwing fireworks, arrest warrant"}
    assert audited[3].detail["replaced"] == {"Tom Ridge": {"reason": "seen throwing fireworks, arrest warrant"}}
    inspector = admin.post("/app/admin/users", data={"csrf_token": csrf, "name": "Insp 0192 Khan", "role": "authority"})
    assert "Insp 0192 Khan can sign in" in inspector.text


def _link(rt, max_bytes: int = 50 * 2**20) -> str:
    """An upload link to INC-PAGES (incident 1)."""
    return create_link(rt, 1, 3600, 3, max_bytes, ADMIN)[1]


def _meta(**values: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


def test_witness_page_and_resumable_upload_with_receipt(site, clips, tmp_path):
    app, rt = site
    token = _link(rt)
    client = TestClient(app)
    page = client.get(f"/u/{token}")
    assert page.status_code == 200 and "Send your video" in page.text
    for secret in ("INC-PAGES", "fireworks", "INC-OTHER", "another incident", "Evidence Pipeline"):
        assert secret not in page.text, secret
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]

    data = clips["empty"].read_bytes()
    made = client.post(f"/public/tus/{token}", headers={"Tus-Resumable": "1.0.0", "Upload-Length": str(len(data)),
                                                        "Upload-Metadata": _meta(filename="street.mp4",
                                                                                 caption="they ran off",
                                                                                 contact="07700 900123")})
    assert made.status_code == 201
    url = made.headers["location"]
    half = len(data) // 2
    patch = {"Tus-Resumable": "1.0.0", "Content-Type": "application/offset+octet-stream"}
    first = client.patch(url, content=data[:half], headers={**patch, "Upload-Offset": "0"})
    assert first.status_code == 204 and first.headers["upload-offset"] == str(half)
    assert client.get(f"{url}/receipt").status_code == 409  # not finished
    head = client.head(url)
    assert head.headers["upload-offset"] == str(half) and head.headers["upload-length"] == str(len(data))
    wrong = client.patch(url, content=data[half:], headers={**patch, "Upload-Offset": "0"})
    assert wrong.status_code == 409
    rest = client.patch(url, content=data[half:], headers={**patch, "Upload-Offset": str(half)})
    assert rest.status_code == 204 and rest.headers["upload-offset"] == str(len(data))
    receipt = client.get(f"{url}/receipt").json()
    assert receipt["reference"].startswith("WV-") and receipt["size_bytes"] == len(data)
    with rt.sessions() as s:
        ev = s.scalars(select(Evidence)).one()
        assert receipt["sha256"] == ev.sha256 and ev.incident_id == 1
        assert ev.submitted["caption"] == "they ran off" and "resumable" in ev.submitted["via"]
        assert s.scalars(select(ResumableUpload)).one().evidence_id == ev.id
    assert set(receipt) == {"reference", "received_at", "name", "sha256", "size_bytes", "status_url"}  # nothing of the incident
    assert receipt["status_url"].startswith("/s/")
    assert "07700 900123" not in client.get(receipt["status_url"]).text  # the sender's own page: nothing of it

    # What the witness said, and how to reach them, reach the staff (issue 28, 3) and the package.
    person(rt, client)
    board = client.get("/app/incidents/1").text
    for said in ("a member of the public", receipt["reference"], "“they ran off”", "07700 900123"):
        assert said in board, said
    item = client.get(f"/app/incidents/1/evidence/{ev.id}")  # as the board adds it live
    assert "07700 900123" in item.text and client.get(f"/app/incidents/2/evidence/{ev.id}").status_code == 404
    from evidence.export import export_incident

    package = export_incident(rt, 1, tmp_path / "package.zip", Actor("DC 5678 Patel", "investigator"), "CPS file", None)
    with zipfile.ZipFile(package.path) as z:
        sender = json.loads(z.read("reports/report.json"))["evidence"][0]["sender"]
        report = z.read("reports/report.html").decode()
        chronology = z.read("reports/chronology.csv").decode()
    assert sender == {"from": "a member of the public", "public": True, "via": sender["via"],
                      "reference": receipt["reference"], "caption": "they ran off", "contact": "07700 900123"}
    assert "they ran off" in report and "07700 900123" in report and receipt["reference"] in report
    assert chronology.startswith("time_utc,time_local,group,what,by,witness_said,witness_contact")
    assert f"Video received: street.mp4, witness reference {receipt['reference']}" in chronology
    assert "they ran off,07700 900123" in chronology


def test_witness_upload_refusals(site, tmp_path):
    app, rt = site
    token = _link(rt, max_bytes=1000)
    client = TestClient(app)
    big = client.post(f"/public/tus/{token}", headers={"Tus-Resumable": "1.0.0", "Upload-Length": "5000"})
    assert big.status_code == 413 and "at most" in big.json()["message"]
    assert client.get("/u/not-a-link").status_code == 404
    assert "not right" in client.get("/u/not-a-link").text
    made = client.post(f"/public/tus/{token}", headers={"Tus-Resumable": "1.0.0", "Upload-Length": "10"})
    url = made.headers["location"]
    patch = {"Tus-Resumable": "1.0.0", "Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"}
    too_long = client.patch(url, content=b"x" * 20, headers=patch)
    assert too_long.status_code == 413
    text = client.patch(url, content=b"not video!", headers=patch)  # refused at its first bytes, not at the end
    assert text.status_code == 422, text.text
    assert text.json()["message"] == \
        "This file is a text file, not a video. Choose the video you recorded."
    assert client.head(url).status_code == 410  # removed at once: it holds no place on the link (issue 29)

    def again() -> str:
        return client.post(f"/public/tus/{token}", headers={"Tus-Resumable": "1.0.0", "Upload-Length": "10"}
                           ).headers["location"]

    url = again()
    photo = client.patch(url, content=b"\xff\xd8\xff\xe0" + b"\0" * 6, headers=patch)
    assert photo.status_code == 422 and "This file is a JPEG image, not a video" in photo.json()["message"]
    url = again()
    done = client.patch(url, content=b"\0\0\0\x18ftypmp", headers=patch)  # looks like video, is not one
    assert done.status_code == 204
    receipt = client.get(f"{url}/receipt")
    assert receipt.status_code == 422 and "video" in receipt.json()["message"]
    with rt.sessions() as s:
        assert s.scalars(select(Evidence)).first() is None  # nothing half-written
    other = create_link(rt, 2, 3600, 1, 1000, ADMIN)[1]
    assert client.head(url.replace(token, other)).status_code == 404  # an upload belongs to its link


def test_a_flood_of_guesses_for_one_name_queues_at_most_two(site):
    """The review of issue 29: attempts for one name from one address wait their turn, and a third
    waiting is told to try again (429) rather than queued — a flood neither piles up work nor keeps
    the owner waiting behind it for long."""
    import threading

    app, rt = site
    add_user(rt, "PC 11 Owen", "control_room", ADMIN)
    with TestClient(app, client=("203.0.113.77", 50000)) as client:  # one event loop, many threads
        for n in range(6):
            assert sign_in(client, "PC 11 Owen", f"guess {n}").status_code == 401
        codes: list[int] = []
        start = threading.Barrier(8)

        def guess(i: int) -> None:
            start.wait()
            codes.append(sign_in(client, "PC 11 Owen", f"flood {i}").status_code)

        threads = [threading.Thread(target=guess, args=(i,)) for i in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    assert set(codes) <= {401, 429} and codes.count(429) >= 4 and codes.count(401) >= 1, codes
