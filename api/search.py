"""Investigators' searches: every one needs a reason, recorded with the query and result count."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from api.auth import allow
from evidence.audit import Actor
from evidence.search import MAX_RESULTS, search_plates

__all__ = ["router"]

router = APIRouter()


@router.get("/search/plates", summary="Every sighting of a plate: camera reads and footage (audited, reason required)",
            description="Roles: investigator, control_room, admin. `q`: a registration, with `?` for one unknown "
                        "character and `*` for any run (`AB1?CDE`, `*CDE`); O/0, I/1, B/8, S/5, Z/2, G/6 match "
                        "alike. `reason` is required and audited with the query and the result count. Results "
                        "are reads to verify against their images.")
def plates(request: Request, actor: Annotated[Actor, Depends(allow("investigator", "control_room", "admin"))],
           q: Annotated[str, Query(min_length=1, max_length=20)],
           reason: Annotated[str, Query(min_length=1, max_length=2000)],
           since: datetime | None = None, until: datetime | None = None, camera: str | None = None,
           limit: Annotated[int, Query(ge=1, le=MAX_RESULTS)] = 200) -> dict[str, Any]:
    results = search_plates(request.app.state.runtime, q, reason, actor, since, until, camera, limit)
    return {"query": q, "count": len(results), "results": results}
