"""Path and query parameters bounded at the edge: an id past what the database can hold is a 422,
never a driver's overflow (a 500)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

__all__ = ["BigId", "Id", "MAX_BIG_ID", "MAX_ID"]

MAX_ID = 2**31 - 1  # ids are 32-bit integers on PostgreSQL
MAX_BIG_ID = 2**63 - 1  # camera reads and event positions: 64-bit

Id = Annotated[int, Path(ge=1, le=MAX_ID)]
BigId = Annotated[int, Path(ge=1, le=MAX_BIG_ID)]
