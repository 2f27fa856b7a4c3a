"""Evidence in an S3-protocol object store (``EVIDENCE_STORE_URL=s3://bucket/prefix``), so that API
processes and workers on different machines share no disk: only PostgreSQL, Redis and the bucket.

Objects are content-addressed like the local store's files (``prefix/kind/ab/<sha256><suffix>``),
so an object is never rewritten: a file whose object exists is not uploaded again, and originals
are written with Object Lock (retention ``store_object_lock_days``, mode
``store_object_lock_mode``) when the bucket has Object Lock enabled: nobody holding the
application's key can delete or overwrite them. Each object is uploaded with its SHA-256 checksum
(the store checks it on arrival). Nothing is deleted from the bucket but camera images at the end
of their retention: a file stored by a run that then failed stays there unreferenced.

Each process keeps a bounded local cache (``DATA_DIR/cache``, at most ``store_cache_max_bytes``):
``absolute`` gives a cached file's path, fetching it first, and checks a fetched file against the
hash in its name; files not used for the longest time are evicted when the cache grows past its
bound (never one used in the last minute). Scratch files (an upload being received, ffmpeg's
output before it is stored) are made under the cache's ``tmp``."""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlparse

from evidence.errors import EvidenceError, StoreUnavailable
from evidence.filestore import FileStore, StoredFile, sha256_of
from evidence.utc import utcnow

__all__ = ["S3Store"]

log = logging.getLogger(__name__)
LOCKED_KINDS = ("originals",)  # evidence as received: under Object Lock where the bucket has it
RECENT_S = 60.0  # a cached file used this recently is never evicted (a job may be about to open it)


class S3Store(FileStore):
    """The FileStore's interface over an S3 bucket, with a bounded local cache at ``cache_dir``."""

    def __init__(self, url: str, cache_dir: Path, *, endpoint_url: str | None = None, region: str | None = None,
                 access_key_id: str | None = None, secret_access_key: str | None = None,
                 cache_max_bytes: int = 20 * 1024**3, lock_days: int = 365, lock_mode: str = "GOVERNANCE") -> None:
        super().__init__(cache_dir)
        parsed = urlparse(url)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise EvidenceError(f"EVIDENCE_STORE_URL {url!r}: expected s3://bucket/prefix")
        try:
            import boto3
            from botocore.config import Config
        except ImportError as exc:
            raise EvidenceError("an s3:// store needs the s3 extra: pip install 'evidence-pipeline[s3]'") from exc
        self.bucket, self.prefix = parsed.netloc, parsed.path.strip("/")
        self.url = url
        self.client: Any = boto3.client(
            "s3", endpoint_url=endpoint_url, region_name=region or "us-east-1", aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 5, "mode": "standard"},
                          connect_timeout=5, read_timeout=60))
        self.cache_max_bytes, self.lock_days, self.lock_mode = cache_max_bytes, lock_days, lock_mode
        self._locking: bool | None = None
        self._evicting = threading.Lock()
        self._cached_total = sum(size for _, size, _ in self._cached()) if self.root.exists() else 0

    def _key(self, relative: str) -> str:
        return f"{self.prefix}/{relative}" if self.prefix else relative

    def _object_exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise

    def _bucket_locks(self) -> bool:
        """Whether the bucket has Object Lock enabled (asked once)."""
        if self._locking is None:
            from botocore.exceptions import ClientError

            try:
                conf = self.client.get_object_lock_configuration(Bucket=self.bucket)
                self._locking = conf.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") == "Enabled"
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ObjectLockConfigurationNotFoundError":
                    raise  # no permission, throttled: asked again next time, never taken as "no lock"
                self._locking = False
            if not self._locking:
                log.warning("bucket %s has no Object Lock: originals are protected only by the key's rights",
                            self.bucket)
        return self._locking

    def _ensure_locked(self, key: str, until: Any) -> None:
        """Check the lock took (some S3-protocol servers drop it on multipart uploads); set it if not."""
        if "ObjectLockMode" not in self.client.head_object(Bucket=self.bucket, Key=key):
            self.client.put_object_retention(Bucket=self.bucket, Key=key,
                                             Retention={"Mode": self.lock_mode, "RetainUntilDate": until})

    def put_stream(self, src: BinaryIO, kind: str, suffix: str = "", max_bytes: int | None = None) -> StoredFile:
        """Hash and keep the stream in the cache (as the local store does), then upload it unless its
        object is already there. A failed upload leaves nothing in the bucket and raises."""
        local = super().put_stream(src, kind, suffix, max_bytes)
        if not local.existed:
            self._cached_total += local.size_bytes
        else:
            os.utime(local.path)  # just used: not the next evicted
        key = self._key(self.relative(local.path))
        lock = kind in LOCKED_KINDS and self.lock_days > 0
        try:
            if self._object_exists(key):
                existed = True
                if lock and self._bucket_locks():  # a first upload whose lock was not set (it failed after)
                    self._ensure_locked(key, utcnow() + timedelta(days=self.lock_days))
            else:
                extra: dict[str, Any] = {"ChecksumAlgorithm": "SHA256"}  # checked by the store on arrival
                lock = lock and self._bucket_locks()
                until = utcnow() + timedelta(days=self.lock_days)
                if lock:
                    extra |= {"ObjectLockMode": self.lock_mode, "ObjectLockRetainUntilDate": until}
                # Multipart past 8 MiB, each part checked; an upload that fails is aborted, never visible.
                self.client.upload_file(str(local.path), self.bucket, key, ExtraArgs=extra)
                if lock:
                    self._ensure_locked(key, until)
                existed = False
        except Exception as exc:
            if not local.existed:
                self._uncache(local.path)
            raise StoreUnavailable(f"the object store {self.url} did not take {kind}/{local.sha256[:12]}…: "
                                   f"{type(exc).__name__}: {exc}") from exc
        self._evict()
        return StoredFile(local.sha256, local.path, local.size_bytes, existed)

    def absolute(self, relative: str) -> Path:
        """The cached copy of a stored file, fetched (and checked against its hash) when not cached."""
        path = self.root / relative
        if path.exists():
            os.utime(path)
            return path
        tmp_dir = self.root / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=tmp_dir, prefix="fetch-")
        os.close(fd)
        try:
            self.client.download_file(self.bucket, self._key(relative), tmp_name)
            want = Path(relative).name.split(".", 1)[0]
            got = sha256_of(Path(tmp_name))
            if len(want) == 64 and got != want:
                raise StoreUnavailable(f"{relative}: the object store returned bytes with SHA-256 {got[:12]}…, "
                                       "not the stored file's")
            path.parent.mkdir(parents=True, exist_ok=True)
            os.chmod(tmp_name, 0o444)
            size = os.path.getsize(tmp_name)
            os.replace(tmp_name, path)
            self._cached_total += size
        except StoreUnavailable:
            raise
        except Exception as exc:
            if self._gone(exc):
                return path  # as the local store: a missing file is the caller's to report
            raise StoreUnavailable(f"{relative}: could not be fetched from {self.url}: {exc}") from exc
        finally:
            if os.path.exists(tmp_name):
                os.unlink(tmp_name)
        self._evict()
        return path

    @staticmethod
    def _gone(exc: Exception) -> bool:
        response = getattr(exc, "response", None) or {}
        return str(response.get("Error", {}).get("Code")) in ("404", "NoSuchKey", "NotFound")

    def discard_new(self, path: Path) -> None:
        """A file this run stored that no row refers to: only the cached copy goes. The object stays
        in the bucket: another process may have stored the same bytes meanwhile and be about to
        refer to them (it checks its own cache, not the bucket), and an original may be locked."""
        if path.is_relative_to(self.root) and path.exists():
            self._cached_total -= path.stat().st_size
        super().discard_new(path)

    def has(self, relative: str) -> bool:
        return self._object_exists(self._key(relative))

    def delete_many(self, relatives: list[str], kinds: tuple[str, ...] = ("anpr",)) -> int:
        """Delete objects of ``kinds`` (1,000 a request) and their cached copies; how many there were.
        On a versioned bucket this leaves delete markers: expire noncurrent versions by a lifecycle rule."""
        for relative in relatives:
            self._deletable(relative, kinds)
        deleted = 0
        for k in range(0, len(relatives), 1000):
            chunk = relatives[k:k + 1000]
            try:
                out = self.client.delete_objects(Bucket=self.bucket, Delete={
                    "Objects": [{"Key": self._key(r)} for r in chunk], "Quiet": False})
            except Exception as exc:
                raise StoreUnavailable(f"the object store {self.url} did not delete {len(chunk)} files: {exc}") from exc
            if out.get("Errors"):
                e = out["Errors"][0]
                raise StoreUnavailable(f"the object store {self.url} did not delete {e.get('Key')}: {e.get('Message')}")
            deleted += len(out.get("Deleted", []))
            for r in chunk:
                self._uncache(self.root / r)
        return deleted

    def _deletable(self, relative: str, kinds: tuple[str, ...]) -> None:
        path = (self.root / relative).resolve()
        if not path.is_relative_to(self.root) or path.relative_to(self.root).parts[0] not in kinds:
            raise ValueError(f"{relative}: not a file this store deletes")

    def _uncache(self, path: Path) -> None:
        try:
            size = path.stat().st_size
            os.chmod(path, 0o644)
            path.unlink()
            self._cached_total -= size
        except FileNotFoundError:
            pass

    def delete(self, relative: str, kinds: tuple[str, ...] = ("anpr",)) -> bool:
        self._deletable(relative, kinds)
        key = self._key(relative)
        there = self._object_exists(key)
        if there:
            self.client.delete_object(Bucket=self.bucket, Key=key)
        self._uncache(self.root / relative)
        return there

    def check_writable(self) -> str:
        self.client.head_bucket(Bucket=self.bucket)
        super().check_writable()
        return f"bucket reachable; cache {100 * self._cached_total / self.cache_max_bytes:.0f} % full"

    def _cached(self) -> list[tuple[float, int, Path]]:
        out = []
        for path in self.root.rglob("*"):
            if path.is_file() and path.relative_to(self.root).parts[0] != "tmp":
                try:
                    st = path.stat()
                except FileNotFoundError:
                    continue
                out.append((st.st_mtime, st.st_size, path))
        return out

    def _evict(self) -> None:
        """Delete the least recently used cached files until the cache is within its bound. The
        cache's size is kept as a running total: the files are listed only when it is over."""
        if self._cached_total <= self.cache_max_bytes or not self._evicting.acquire(blocking=False):
            return
        try:
            files = sorted(self._cached())
            total = sum(size for _, size, _ in files)
            now = time.time()
            for used, size, path in files:
                if total <= self.cache_max_bytes or now - used < RECENT_S:
                    break
                try:
                    os.chmod(path, 0o644)
                    path.unlink()
                    total -= size
                except FileNotFoundError:
                    pass
            self._cached_total = total
        finally:
            self._evicting.release()
