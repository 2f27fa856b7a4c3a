"""A compromised camera or ANPR agent key: it may post false reads for its own camera (every hit is
a candidate to check against its image) but nothing more — not for another camera or an invented
stream, not a small body that makes a large answer or a large memory, not a time the calendar
cannot hold. The camera tests live with their fixtures:

- tests/test_anpr.py::test_a_small_body_of_junk_gets_a_small_answer (1 MiB of junk: 413, answer
  under 4 KiB, under 20 MB of memory)
- tests/test_anpr.py::test_a_time_at_the_calendars_edge_is_refused_by_name_and_a_batch_keeps_its_good_reads
- tests/test_anpr.py::test_duplicates_are_ignored_and_a_batch_reports_its_bad_reads (another camera's id)
- tests/test_alprd.py::test_a_compromised_agent_cannot_invent_cameras_or_store_a_large_name
- tests/test_alprd.py::test_a_camera_keys_name_cannot_claim_another_cameras_streams
- tests/test_api.py::test_an_agents_streams_are_registered_with_its_key

and here, what needs none of their fixtures."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from evidence.audit import Actor
from evidence.keys import create_key
from evidence.settings import Settings

ADMIN = Actor("test-admin", "admin")


@pytest.mark.parametrize("body", [b"[" * 100_000 + b"]" * 100_000, b'{"reads": "' + b"x" * (1 << 20) + b'"}',
                                  b'{"camera_id": "' + b"c" * 100_000 + b'"}'])
def test_a_camera_body_of_junk_is_a_small_4xx(env, body):
    """Nested past the limit, a string where a list goes, an id of 100,000 characters: a 4xx whose
    answer is small and echoes nothing sent."""
    app = create_app(Settings())
    client = TestClient(app)
    cam = {"Authorization": f"Bearer {create_key(app.state.runtime, 'CAM-J', 'camera', ADMIN)[1]}",
           "Content-Type": "application/json"}
    res = client.post("/anpr/reads", content=body, headers=cam)
    assert 400 <= res.status_code < 500 and len(res.content) <= 4096, (res.status_code, len(res.content))
    assert b"x" * 100 not in res.content and b"c" * 100 not in res.content
