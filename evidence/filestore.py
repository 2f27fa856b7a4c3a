"""Content-addressed, write-once file store. A file is hashed (SHA-256) while it is copied in, lands
under its hash by an atomic rename and is made read-only; a partial copy never becomes visible."""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

__all__ = ["FileStore", "StoredFile", "clean_name", "sha256_of"]

CHUNK = 1 << 20
MAX_NAME_CHARS = 120


def clean_name(name: str | None, default: str = "upload", max_chars: int = MAX_NAME_CHARS) -> str:
    """A sender's file name as it may be recorded and shown: its last path part (``/`` or ``\\``),
    without control characters, at most ``max_chars`` long with its extension kept. Files are
    stored under their hash; this name is never used as a path."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = " ".join("".join(c for c in base if c.isprintable()).split()).strip(". ")
    if not base:
        return default
    if len(base) > max_chars:
        stem, dot, suffix = base.rpartition(".")
        suffix = f".{suffix}" if dot and 0 < len(suffix) <= 10 else ""
        base = (stem if suffix else base)[: max_chars - len(suffix)].rstrip() + suffix
    return base


def sha256_of(path: Path) -> str:
    """A file's SHA-256, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class StoredFile:
    sha256: str
    path: Path
    size_bytes: int
    existed: bool


class FileStore:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def _final(self, kind: str, sha256: str, suffix: str) -> Path:
        return self.root / kind / sha256[:2] / f"{sha256}{suffix}"

    def put_stream(self, src: BinaryIO, kind: str, suffix: str = "", max_bytes: int | None = None) -> StoredFile:
        """Copy a stream in 1 MiB chunks, hashing on the way. Raises ValueError past max_bytes."""
        tmp_dir = self.root / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        h, size = hashlib.sha256(), 0
        fd, tmp_name = tempfile.mkstemp(dir=tmp_dir)
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := src.read(CHUNK):
                    size += len(chunk)
                    if max_bytes is not None and size > max_bytes:
                        raise ValueError(f"larger than the {max_bytes}-byte limit")
                    h.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            digest = h.hexdigest()
            final = self._final(kind, digest, suffix)
            if final.exists():
                os.unlink(tmp_name)
                return StoredFile(digest, final, size, existed=True)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.chmod(tmp_name, 0o444)
            os.replace(tmp_name, final)
            return StoredFile(digest, final, size, existed=False)
        except BaseException:
            if os.path.exists(tmp_name):
                os.unlink(tmp_name)
            raise

    def put_file(self, src: Path, kind: str, suffix: str = "") -> StoredFile:
        with src.open("rb") as f:
            return self.put_stream(f, kind, suffix)

    def put_bytes(self, data: bytes, kind: str, suffix: str = "") -> StoredFile:
        return self.put_stream(io.BytesIO(data), kind, suffix)

    def discard_new(self, path: Path) -> None:
        """Delete a file this run has just stored, when the transaction that would have referred to
        it failed (never a file that already existed before the run)."""
        if path.is_relative_to(self.root) and path.exists():
            os.chmod(path, 0o644)
            path.unlink()

    def has(self, relative: str) -> bool:
        """Whether the store holds this file (the bucket, for an S3 store; not a cache)."""
        return (self.root / relative).is_file()

    def delete_many(self, relatives: list[str], kinds: tuple[str, ...] = ("anpr",)) -> int:
        """``delete`` each; how many were there. Raises OSError (or StoreUnavailable) on the first failure."""
        return sum(self.delete(r, kinds) for r in relatives)

    def delete(self, relative: str, kinds: tuple[str, ...] = ("anpr",)) -> bool:
        """Delete a stored file at the end of its retention. Only files of ``kinds`` can be deleted
        (camera images; evidence originals never are). Returns whether a file was there."""
        path = (self.root / relative).resolve()
        if not path.is_relative_to(self.root) or path.relative_to(self.root).parts[0] not in kinds:
            raise ValueError(f"{relative}: not a file this store deletes")
        if not path.exists():
            return False
        os.chmod(path, 0o644)
        path.unlink()
        return True

    def check_writable(self) -> str:
        """Raise OSError unless a file can be written in the store (readiness)."""
        tmp_dir = self.root / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=tmp_dir, prefix="ready-"):
            pass
        return "writable"

    def relative(self, path: Path) -> str:
        return str(path.resolve().relative_to(self.root))

    def absolute(self, relative: str) -> Path:
        return self.root / relative
