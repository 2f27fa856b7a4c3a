"""The audit chain holds under real concurrency (threads on SQLite and PostgreSQL, parallel HTTP
requests against `evidence serve`), and a deleted last entry, a truncated log or a rewritten one is
caught (the head row; anchors kept outside the database)."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import delete, func, select, text, update

from evidence.audit import Actor, GENESIS, _digest, anchor_audit, append_audit, read_anchors, verify_audit
from evidence.db.tables import AuditEntry, AuditHead, Incident
from evidence.runtime import Runtime
from evidence.settings import Settings
from tests.served import run, served

ADMIN = Actor("test-admin", "admin")


@pytest.fixture
def rt(database_url, tmp_path):
    return Runtime(Settings(data_dir=tmp_path / "data", database_url=database_url))


def test_twenty_concurrent_writers_keep_one_chain(rt):
    """Each thread does what a route does: reads, then appends in the same transaction."""
    with rt.sessions.begin() as s:
        s.add(Incident(reference="INC-1"))
    start = threading.Barrier(20)

    def reader(i: int) -> None:
        start.wait()
        for _ in range(10):
            with rt.sessions.begin() as s:
                s.scalar(select(func.count()).select_from(Incident))
                append_audit(s, Actor(f"operator {i}", "control_room"), "incident.view", "incident:1")

    with ThreadPoolExecutor(20) as pool:
        list(pool.map(reader, range(20)))
    with rt.sessions() as s:
        check = verify_audit(s)
        prevs = s.scalars(select(AuditEntry.prev_hash)).all()
    assert check.ok, check.problems
    assert check.entries == 200 and len(set(prevs)) == 200  # nobody shares a predecessor: no fork


def test_verify_while_others_append_sees_an_intact_chain(rt):
    """Entries committed during the walk must not look like entries added behind the head's back."""
    stop = threading.Event()

    def append(i: int) -> None:
        while not stop.is_set():
            with rt.sessions.begin() as s:
                append_audit(s, Actor(f"camera {i}", "camera"), "anpr.read", "anpr_reads")

    with ThreadPoolExecutor(4) as pool:
        for i in range(4):
            pool.submit(append, i)
        checks = []
        while len(checks) < 5000 and (len(checks) < 10 or checks[-1].entries < checks[0].entries + 40):
            with rt.sessions() as s:
                checks.append(verify_audit(s))
        stop.set()
    assert all(c.ok for c in checks), [c.problems for c in checks if not c.ok][:2]
    assert checks[-1].entries >= checks[0].entries + 40  # the log grew while it was being verified


def test_a_deleted_last_entry_is_caught_by_the_head(rt):
    with rt.sessions.begin() as s:
        for i in range(5):
            append_audit(s, ADMIN, "test.entry", f"thing:{i}")
    with rt.sessions.begin() as s:
        s.execute(delete(AuditEntry).where(AuditEntry.id == s.scalar(select(func.max(AuditEntry.id)))))
    with rt.sessions() as s:
        check = verify_audit(s)
    assert not check.ok and check.entries == 4
    assert "records 5 entries" in check.problems[0] and "deleted" in check.problems[0]


def _truncate_and_cover_up(rt: Runtime, keep: int) -> None:
    """What someone with write access to the database could do: drop the newest entries and set
    the head to what is left, so the chain and the head agree again."""
    with rt.sessions.begin() as s:
        ids = s.scalars(select(AuditEntry.id).order_by(AuditEntry.id)).all()
        s.execute(delete(AuditEntry).where(AuditEntry.id.in_(ids[keep:])))
        last = s.scalar(select(AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1))
        s.execute(update(AuditHead).values(entries=keep, hash=last or GENESIS))


def test_an_anchor_catches_a_truncation_covered_up_in_the_database(rt, tmp_path):
    with rt.sessions.begin() as s:
        for i in range(6):
            append_audit(s, ADMIN, "test.entry", f"thing:{i}")
    anchors = tmp_path / "elsewhere" / "anchors.jsonl"
    with rt.sessions.begin() as s:
        anchor = anchor_audit(s, anchors, ADMIN)
    assert anchor.entries == 6  # the anchoring itself is entry 7
    _truncate_and_cover_up(rt, keep=4)
    with rt.sessions() as s:
        assert verify_audit(s).ok  # the database alone cannot tell
        check = verify_audit(s, read_anchors(anchors))
    assert not check.ok and "truncated" in check.problems[-1]


def test_an_anchor_catches_a_rewritten_history(rt, tmp_path):
    with rt.sessions.begin() as s:
        for i in range(4):
            append_audit(s, ADMIN, "candidate.confirmed", f"candidate:{i}", reason="matches")
        anchor_audit(s, tmp_path / "anchors.jsonl", ADMIN)
    # Rewrite entry 2's reason and recompute every hash after it, and the head: a consistent forgery.
    with rt.sessions.begin() as s:
        rows = s.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        rows[1].reason = "does not match"
        prev = GENESIS
        for e in rows:
            e.prev_hash, e.hash = prev, _digest(prev, e)
            prev = e.hash
        s.execute(update(AuditHead).values(hash=prev))
    with rt.sessions() as s:
        assert verify_audit(s).ok
        check = verify_audit(s, read_anchors(tmp_path / "anchors.jsonl"))
    assert not check.ok and "rewritten" in check.problems[0]


def test_http_reads_in_parallel_keep_the_chain_and_the_cli_proves_it(env, tmp_path):
    """The finding as reported: 100 GET /incidents/1, 20 at a time, on the default SQLite."""
    e = dict(os.environ)
    key = run("keys", "create", "--role", "control_room", "--name", "Desk 3", env=e).stdout.split()[-1]
    auth = {"Authorization": f"Bearer {key}"}
    with served(e) as base:
        assert httpx.post(f"{base}/incidents", json={"reference": "INC-1"}, headers=auth).status_code == 201
        with httpx.Client(base_url=base, headers=auth, timeout=60) as client, ThreadPoolExecutor(20) as pool:
            codes = list(pool.map(lambda _: client.get("/incidents/1").status_code, range(100)))
    assert codes == [200] * 100
    verified = run("audit", "verify", env=e)
    assert "audit log intact: 103 entries" in verified.stdout  # the tests' administrator's key, the key, the incident, 100 views
    run("audit", "anchor", "--out", tmp_path / "anchors.jsonl", env=e)
    with Runtime(Settings()).sessions.begin() as s:
        s.execute(text("DELETE FROM audit_log WHERE id = (SELECT max(id) - 1 FROM audit_log)"))
    broken = run("audit", "verify", "--anchors", tmp_path / "anchors.jsonl", env=e, check=False)
    assert broken.returncode == 1 and "does not link to the entry before it" in broken.stderr
