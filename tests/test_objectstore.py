"""The S3 store against a real S3-protocol server on loopback (moto in server mode, over HTTP):
originals written once under Object Lock, a second process's copy not uploaded again, files
fetched into an empty cache and checked against their hash, a changed object refused, a store that
does not answer leaving nothing behind, and the cache kept within its bound."""

from __future__ import annotations

import hashlib
import os
import time
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError

from evidence.errors import StoreUnavailable
from evidence.objectstore import S3Store
from served import S3Server


@pytest.fixture(scope="module")
def s3():
    server = S3Server()
    yield server
    server.stop()


def _store(s3: S3Server, cache, prefix: str, endpoint: str | None = None, **kw) -> S3Store:
    return S3Store(f"s3://{s3.bucket}/{prefix}", cache, endpoint_url=endpoint or s3.url, access_key_id="test",
                   secret_access_key="test", **kw)


def _cached(cache) -> list:
    return [p for p in cache.rglob("*") if p.is_file() and "tmp" not in p.relative_to(cache).parts]


def test_originals_are_written_once_under_object_lock_and_fetched_checked(s3, tmp_path):
    store = _store(s3, tmp_path / "api1", "t1")
    data = os.urandom(9_000_000)  # past 8 MiB: a multipart upload, each part checked
    first = store.put_bytes(data, "originals", ".mp4")
    assert not first.existed and first.sha256 == hashlib.sha256(data).hexdigest()
    relative = store.relative(first.path)
    key = f"t1/{relative}"
    assert key == f"t1/originals/{first.sha256[:2]}/{first.sha256}.mp4"
    head = s3.client().head_object(Bucket=s3.bucket, Key=key)
    assert head["ObjectLockMode"] == "GOVERNANCE"
    assert head["ObjectLockRetainUntilDate"] > datetime.now(UTC) + timedelta(days=364)

    # Another process (its own cache) receives the same bytes: nothing is uploaded again.
    again = _store(s3, tmp_path / "api2", "t1").put_bytes(data, "originals", ".mp4")
    assert again.existed and again.sha256 == first.sha256
    versions = s3.client().list_object_versions(Bucket=s3.bucket, Prefix=key)["Versions"]
    assert len(versions) == 1
    with pytest.raises(ClientError, match="AccessDenied"):  # locked: the application's key cannot delete it
        s3.client().delete_object(Bucket=s3.bucket, Key=key, VersionId=versions[0]["VersionId"])

    # A worker with an empty cache fetches it; the store never deletes an original, even one a
    # failed run stored (only the cached copy goes: another process may be referring to the object).
    worker = _store(s3, tmp_path / "worker", "t1")
    assert worker.absolute(relative).read_bytes() == data and worker.has(relative)
    with pytest.raises(ValueError, match="not a file this store deletes"):
        worker.delete(relative)
    worker.discard_new(worker.absolute(relative))
    assert not (tmp_path / "worker" / relative).exists() and worker.has(relative) and key in s3.keys("t1/")
    # Derivatives are not locked; camera images can be deleted at the end of their retention.
    image = worker.put_bytes(b"plate image", "anpr", ".jpg")
    assert "ObjectLockMode" not in s3.client().head_object(Bucket=s3.bucket, Key=f"t1/{worker.relative(image.path)}")
    assert worker.delete(worker.relative(image.path)) and f"t1/{worker.relative(image.path)}" not in s3.keys("t1/")
    # Retention deletes camera images 1,000 a request; a cached copy elsewhere does not make one "stored".
    images = [worker.relative(worker.put_bytes(os.urandom(100), "anpr", ".jpg").path) for _ in range(3)]
    api = _store(s3, tmp_path / "api3", "t1")
    assert all(api.absolute(r).is_file() for r in images)
    assert worker.delete_many(images) == 3 and not any(api.has(r) for r in images)
    with pytest.raises(ValueError):
        worker.delete_many([relative])


def test_a_changed_object_is_refused_and_a_store_that_does_not_answer_leaves_nothing(s3, tmp_path):
    store = _store(s3, tmp_path / "a", "t2")
    made = store.put_bytes(b"a contact sheet", "derivatives", ".jpg")
    relative = store.relative(made.path)
    s3.client().put_object(Bucket=s3.bucket, Key=f"t2/{relative}", Body=b"something else")
    fresh = _store(s3, tmp_path / "b", "t2")
    with pytest.raises(StoreUnavailable, match="SHA-256"):
        fresh.absolute(relative)
    assert _cached(tmp_path / "b") == []

    down = _store(s3, tmp_path / "c", "t2", endpoint="http://127.0.0.1:1")
    with pytest.raises(StoreUnavailable, match="did not take originals/"):
        down.put_bytes(b"an upload", "originals", ".mp4")
    assert _cached(tmp_path / "c") == []  # not half-stored


def test_the_cache_stays_within_its_bound(s3, tmp_path):
    cache = tmp_path / "cache"
    store = _store(s3, cache, "t3", cache_max_bytes=2_500_000)
    made = [store.put_bytes(os.urandom(1_000_000), "derivatives", ".bin") for _ in range(4)]
    assert len(_cached(cache)) == 4  # all used in the last minute: kept (a job may be about to open one)
    old = time.time() - 3600
    for m in made:
        os.utime(m.path, (old, old))
    os.utime(made[3].path)  # the last one used just now
    store.put_bytes(os.urandom(1_000_000), "derivatives", ".bin")
    assert sum(p.stat().st_size for p in _cached(cache)) <= 2_500_000
    assert not made[0].path.exists() and made[3].path.exists()
    assert store.absolute(store.relative(made[0].path)).stat().st_size == 1_000_000  # fetched again


def test_a_store_outage_during_analysis_is_retried_not_blamed_on_the_clip(s3, tmp_path, clips, face_models):
    """The API stores the clip; a worker (its own empty cache) cannot reach the store: the item
    raises StoreUnavailable for RQ to retry, the evidence is not failed; a worker that can reach
    it then finishes the work."""
    from sqlalchemy import select

    from evidence.audit import Actor
    from evidence.db.tables import Evidence, WorkItem
    from evidence.runtime import Runtime
    from evidence.settings import Settings
    from evidence.work import ingest_clip, prepare_evidence, run_item

    db = f"sqlite:///{tmp_path / 'evidence.db'}"
    common = {"database_url": db, "store_url": f"s3://{s3.bucket}/t4", "s3_access_key_id": "test",
              "s3_secret_access_key": "test", "working_copy": False, "plates": False}
    api = Runtime(Settings(data_dir=tmp_path / "api", s3_endpoint_url=s3.url, **common))
    api.faces = face_models
    eid = ingest_clip(api, clips["phone"], "INC-S3", Actor("test", "admin"))
    items = prepare_evidence(api, eid, fail_on_error=False)
    cut_off = Runtime(Settings(data_dir=tmp_path / "worker1", s3_endpoint_url="http://127.0.0.1:1", **common))
    cut_off.faces = face_models
    with pytest.raises(StoreUnavailable, match="could not be fetched"):
        run_item(cut_off, items[0], fail_on_error=False)
    with api.sessions() as s:
        assert s.get(Evidence, eid).state == "analysing"
        assert s.get(WorkItem, items[0]).state == "queued"  # never taken: fetched before the lease
    worker = Runtime(Settings(data_dir=tmp_path / "worker2", s3_endpoint_url=s3.url, **common))
    worker.faces = face_models
    assert all(run_item(worker, i, fail_on_error=False).frames > 0 for i in items)
    with worker.sessions() as s:
        assert {w.state for w in s.scalars(select(WorkItem).where(WorkItem.evidence_id == eid))} == {"done"}
