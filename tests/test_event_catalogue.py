"""One catalogue of events (evidence.eventkinds): every kind has a payload model, its wording and
its audience; no other file names a kind as a string (Python, the pages' scripts and templates take
them from the catalogue); the pages are served the catalogue; and a kind's shape is enforced where
events are written."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pydantic
import pytest

from evidence.eventkinds import CATALOGUE, EventKind, for_pages, in_words, validate
from evidence.states import Role

pytestmark = pytest.mark.fast  # `make check`: no clip analysed, no server started

ROOT = Path(__file__).resolve().parent.parent
KINDS = {k.value for k in EventKind}
# The audit log's actions in words (some actions share a kind's name: the audit log names what a
# person did, not an event), and the OpenALPR agent's JSON (its own "candidates") are not events.
NOT_EVENTS = {"evidence/auditwords.py": KINDS, "evidence/alprd.py": {"candidate"}}

AUDITED_VIEW = re.compile(r"viewed\(.*\"candidate\", \"candidate\.")  # the audit log's object type: a candidate row


def _sources() -> list[Path]:
    found = [p for d in ("evidence", "api", "workers", "cli", "pipeline") for p in (ROOT / d).rglob("*.py")]
    found += list((ROOT / "api/static/js").glob("*.js")) + list((ROOT / "api/templates").rglob("*.html"))
    return [p for p in found if p.name != "eventkinds.py"]


def test_every_kind_has_a_payload_model_wording_and_audience():
    assert set(CATALOGUE) == set(EventKind)
    for kind, spec in CATALOGUE.items():
        assert issubclass(spec.payload, pydantic.BaseModel), kind
        assert spec.payload.model_fields, kind
        assert spec.wording and spec.wording[0].isupper(), kind
        assert spec.audience and all(isinstance(r, Role) for r in spec.audience), kind
        if spec.outgoing is not None:  # what a subscription's message carries is in the payload
            assert set(spec.outgoing) <= set(spec.payload.model_fields), kind


def test_wordings_are_distinct():
    wordings = [spec.wording for spec in CATALOGUE.values()]
    assert len(wordings) == len(set(wordings))


def test_no_file_outside_the_catalogue_names_a_kind_as_a_string():
    quoted = re.compile(r"""["']([a-z_]+(?:\.[a-z_]+)?)["']""")
    named = []
    for path in _sources():
        rel = path.relative_to(ROOT).as_posix()
        for n, line in enumerate(path.read_text().splitlines(), 1):
            for word in quoted.findall(line):
                if word in KINDS and word not in NOT_EVENTS.get(rel, ()) and not AUDITED_VIEW.search(line):
                    named.append(f"{rel}:{n}: {line.strip()}")
    assert not named, "event kinds written as strings (use EventKind / EPLive.kinds):\n" + "\n".join(named)


def test_the_pages_are_served_the_catalogue():
    served = json.loads(json.dumps(for_pages()))
    assert served["kinds"] == {k.name: k.value for k in EventKind}
    assert set(served["wording"]) == KINDS
    assert set(served["timeline"]) <= KINDS and EventKind.CANDIDATE in served["timeline"]
    for template in ("board.html", "desk.html"):
        html = (ROOT / "api/templates" / template).read_text()
        assert 'id="ep-events">{{ event_catalogue|tojson }}' in html
        assert html.index("/assets/js/live.js") < html.index(f"/assets/js/{template.replace('.html', '.js')}")


def test_a_payload_the_catalogue_does_not_describe_is_refused():
    with pytest.raises(pydantic.ValidationError):
        validate(EventKind.PUBLIC_UPDATE, {"text": "Officers are on their way", "by": "Sam", "colour": "red"})
    with pytest.raises(ValueError):
        validate("candidate.maybe", {})  # type: ignore[arg-type]
    with pytest.raises(pydantic.ValidationError):
        validate(EventKind.PUBLIC_UPDATE, {"text": "Officers are on their way"})  # who said it is missing
    assert validate(EventKind.PUBLIC_UPDATE, {"text": "Officers are on their way", "by": "Sam"})


def test_in_words_names_the_kind_as_every_page_does():
    said = in_words(EventKind.CANDIDATE_REVIEWED, {"subject": "Gordon_Brown", "review_state": "confirmed",
                                                   "reviewed_by": "Sam"})
    assert said == "Potential match reviewed: Gordon_Brown confirmed by Sam"
    assert in_words(EventKind.EVIDENCE_PROGRESS, {"progress": 0.5}) == "Analysis progress: 50%"


def test_a_feed_event_keeps_its_own_id_time_and_kind_whatever_its_payload_holds():
    """An escalation stored before its payload named the escalated alert's kind ``alert_kind``
    carried it as ``kind``: the feeds then named the event after the alert (the desk never saw
    an escalation)."""
    from datetime import UTC, datetime

    from evidence.db.tables import IncidentEvent
    from evidence.events import event_view

    at = datetime(2026, 12, 7, 13, 0, tzinfo=UTC)
    old = IncidentEvent(id=7, at=at, incident_id=1, kind=EventKind.ALERT_ESCALATED,
                        data={"alert_id": 3, "kind": "evidence.failed", "summary": "Analysis failed", "after_s": 60})
    view = event_view(old)
    assert (view["id"], view["at"], view["kind"]) == (7, at.isoformat(), EventKind.ALERT_ESCALATED)
    assert view["what"] == "Alert escalated: Analysis failed"
