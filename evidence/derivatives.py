"""Recording a file made from evidence: one row per (evidence, kind, file hash), with its parent's
hash and what made it. Recording the same file again (a re-run) returns the row already there."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from evidence.db.tables import Derivative

__all__ = ["record_derivative"]


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
