"""What the routes share: the process's Runtime, and "load it or 404, then audit the view"."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from evidence.audit import Actor, audit_read
from evidence.errors import NotFound
from evidence.runtime import Runtime

__all__ = ["RuntimeDep", "runtime", "viewed"]

T = TypeVar("T")


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


RuntimeDep = Annotated[Runtime, Depends(runtime)]


@contextmanager
def viewed(rt: Runtime, actor: Actor, model: type[T], row_id: int, kind: str,
           action: str) -> Iterator[tuple[Session, T, dict[str, Any]]]:
    """Load ``row_id`` of ``model`` in a read session (NotFound naming ``kind`` otherwise), let the
    block build its answer from it, then record the view (``action`` on ``<kind>:<id>``, with what
    the block put in the yielded ``detail``) in the audit log — in a write of its own, once the
    reading is over; the entry's id is then ``detail["audit_id"]`` (a page's images name it: they
    were seen with the page, audited once). A block that raises (its own NotFound too) records nothing."""
    with rt.sessions() as s:
        row = s.get(model, row_id)
        if row is None:
            raise NotFound(f"{kind.replace('_', ' ')} {row_id} not found")
        detail: dict[str, Any] = {}
        yield s, row, detail
    detail["audit_id"] = audit_read(rt.sessions, actor, action, f"{kind}:{row_id}", detail=detail or None)
