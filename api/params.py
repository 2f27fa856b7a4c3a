"""Path and query parameters bounded at the edge: an id past what the database can hold is a 422,
never a driver's overflow (a 500)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import Path, Query

__all__ = ["BigId", "Id", "MAX_BIG_ID", "MAX_ID", "SEEN_FOR", "SeenWith"]

MAX_ID = 2**31 - 1  # ids are 32-bit integers on PostgreSQL
MAX_BIG_ID = 2**63 - 1  # camera reads and event positions: 64-bit

Id = Annotated[int, Path(ge=1, le=MAX_ID)]
BigId = Annotated[int, Path(ge=1, le=MAX_BIG_ID)]

# An image fetched for a page names the audit entry of that page's view (``?seen=``): it is part of
# that view for as long as a shift lasts, not a view of its own.
SeenWith = Annotated[int | None, Query(ge=1, le=MAX_BIG_ID, description="the audit entry of the page showing it")]
SEEN_FOR = timedelta(hours=12)
