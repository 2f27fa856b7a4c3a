"""Recording a file made from evidence: one row per (evidence, kind, file hash), with its parent's
hash and what made it. Recording the same file again (a re-run) returns the row already there.

Files in the store are content-addressed, so two runs storing the same bytes share one file. A run
whose transaction failed deletes what it stored only if no row refers to it
(``discard_unreferenced``, decided inside a write transaction); a run about to refer to a file it
stored first makes sure, inside its transaction, that the file is still there (``ensure_stored``).
Write transactions run one at a time (``evidence.db.session``), so the two cannot interleave."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from evidence.db import Sessions
from evidence.db.tables import AnprRead, Derivative, Evidence, WatchlistReference
from evidence.filestore import FileStore, StoredFile

__all__ = ["discard_unreferenced", "ensure_stored", "record_derivative"]

_REFERENCES = (Evidence.store_path, Derivative.store_path, WatchlistReference.store_path, AnprRead.plate_image,
               AnprRead.overview_image)


def record_derivative(s: Session, evidence_id: int, parent_sha256: str, kind: str, sha256: str, store_path: str,
                      made_by: dict[str, Any]) -> Derivative:
    row = s.scalar(select(Derivative).where(Derivative.evidence_id == evidence_id, Derivative.kind == kind,
                                            Derivative.sha256 == sha256))
    if row is None:
        row = Derivative(evidence_id=evidence_id, parent_sha256=parent_sha256, kind=kind, sha256=sha256,
                         store_path=store_path, made_by=made_by)
        s.add(row)
        s.flush()
    return row


def ensure_stored(stored: StoredFile, store_again: Callable[[], StoredFile]) -> StoredFile:
    """Call inside the transaction that will refer to ``stored``: the file as stored, or stored
    again when a failed run has removed it since."""
    return stored if stored.path.is_file() else store_again()


def discard_unreferenced(sessions: Sessions, store: FileStore, files: Iterable[StoredFile]) -> None:
    """Delete the files this run stored new (``existed`` False) that no row refers to."""
    new = [f for f in files if not f.existed]
    if not new:
        return
    with sessions.begin() as s:
        for f in new:
            rel = store.relative(f.path)
            if not any(s.scalar(select(col).where(col == rel).limit(1)) for col in _REFERENCES):
                store.discard_new(f.path)
