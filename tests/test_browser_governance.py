"""Governance pages in a real browser. Older camera reads: a detective's plate search stops at 90
days and offers to ask; an inspector with the authority role signs in straight to the requests and
approves one with a reason; the detective searches with the approval and sees the old read and its
image. Retention: the detective holds an incident for investigation from its retention page. Each
page is photographed into docs/screens/ and checked with axe-core (see tests/test_browser.py)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import httpx
import numpy as np
from sqlalchemy import update

from evidence.db.tables import AnprRead
from evidence.runtime import Runtime
from evidence.settings import Settings
from evidence.utc import utcnow
from tests.served import run
from tests.test_browser import browser, look, sign_in, site  # noqa: F401 - the fixtures, for this module too

ACCESS = "/app/anpr/access"


def test_older_reads_asked_for_approved_and_searched(browser, site):  # noqa: F811 - the fixtures
    camera_key = run("keys", "create", "--role", "camera", "--name", "CAM-M42-J3", env=site.env).stdout.split()[-1]
    read = {"camera_id": "CAM-M42-J3", "timestamp": datetime.now(UTC).isoformat(), "vrm": "XY51ABC",
            "confidence": 0.93, "plate_image": _plate_jpeg("XY51 ABC"), "location": {"lat": 52.4, "lon": -2.0, "name": "M42 J3"}}
    assert httpx.post(f"{site.base}/anpr/reads", json=read, headers={"Authorization": f"Bearer {camera_key}"}).is_success
    rt = Runtime(Settings(data_dir=Path(site.env["EVIDENCE_DATA_DIR"])))
    with rt.sessions.begin() as s:  # the read is 100 days old: past the 90 days
        s.execute(update(AnprRead).values(read_at=utcnow() - timedelta(days=100)))
    site.passwords["Insp 0192 Khan"] = run("users", "add", "--name", "Insp 0192 Khan", "--role", "authority",
                                           env=site.env).stdout.split()[-1]

    _, dc = sign_in(browser, site, "DC 5678 Patel")
    dc.goto(f"{site.base}/app/search/plates")
    dc.fill("#q", "XY51ABC")
    dc.fill("#reason", "Op Nightjar: the suspect's car")
    dc.click("button:has-text('Search')")
    assert "0 sightings" in dc.locator("main").inner_text()
    dc.click("a:has-text('ask for access to older reads of XY51ABC')")
    assert dc.input_value("#q") == "XY51ABC"
    dc.fill("#reason", "Op Nightjar (arson, 14 Elm Road): was the suspect's car near the house before the first attack?")
    dc.click("button:has-text('Ask for access')")
    assert "waiting for a decision by an inspector" in dc.locator(".govuk-notification-banner").inner_text()
    look(dc, "anpr-access-ask", site)

    _, insp = sign_in(browser, site, "Insp 0192 Khan", lands=ACCESS)
    card = insp.locator(".govuk-summary-card:has-text('XY51ABC')")
    assert "DC 5678 Patel" in card.inner_text() and "14 Elm Road" in card.inner_text()
    assert "Older reads" in insp.locator("#navigation").inner_text()
    assert "Incidents" not in insp.locator("#navigation").inner_text()
    look(insp, "anpr-access-decide", site)
    card.locator("textarea").fill("Serious arson inquiry; one plate, proportionate")
    card.locator("button:has-text('Approve')").click()
    assert "is approved" in insp.locator(".govuk-notification-banner").inner_text()

    dc.goto(site.base + ACCESS)
    dc.click("a:has-text('Search XY51ABC')")
    dc.fill("#reason", "Op Nightjar: the suspect's car before the first attack")
    dc.click("button:has-text('Search')")
    main = dc.locator("main").inner_text()
    assert "1 sighting " in main and "camera CAM-M42-J3" in main and "under approved request 1" in main
    # The old read's image, under the approval: loaded (a refused or broken one decodes to nothing).
    assert dc.evaluate("async () => { const i = document.querySelector('main img'); "
                       "try { await i.decode(); } catch (e) { return 0; } return i.naturalWidth; }") > 0
    look(dc, "search-plates-approved", site)

def _plate_jpeg(text: str) -> str:
    """A plate crop as a camera sends it: a small JPEG, base64."""
    img = np.full((40, 160, 3), 235, np.uint8)
    cv2.putText(img, text, (8, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (20, 20, 20), 2)
    return base64.b64encode(cv2.imencode(".jpg", img)[1].tobytes()).decode()


def test_an_incident_held_for_investigation_from_its_retention_page(browser, site):  # noqa: F811 - the fixtures
    made = httpx.post(f"{site.base}/incidents", headers={"Authorization": f"Bearer {site.api_key}"},
                      json={"reference": "INC-2231", "title": "fireworks at a house"}).json()
    _, dc = sign_in(browser, site, "DC 5678 Patel")
    dc.goto(f"{site.base}/app/incidents/{made['id']}")
    dc.click("a:has-text('Retention')")
    assert "unclassified" in dc.locator("main").inner_text()
    dc.fill("#reason-hold", "Op Nightjar: arson inquiry, faces to be searched")
    dc.click("button:has-text('Hold')")
    assert "Held for investigation" in dc.locator(".govuk-notification-banner").inner_text()
    assert "by DC 5678 Patel" in dc.locator(".govuk-summary-list").inner_text()
    look(dc, "retention", site)
