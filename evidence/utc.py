"""One rule for time: every datetime that comes in (an API field, a query parameter, a CLI option,
a database row) is converted to UTC at the boundary; inside the project every datetime is
timezone-aware UTC.

- ``UtcDatetime`` is the pydantic field type of incoming times: an offset is required
  (``2026-12-01T05:02:49+01:00`` or ``…Z``) and the value is converted to UTC (04:02:49Z).
- ``evidence.db.tables.UTCDateTime`` is the column type: UTC is written (naive on SQLite, which
  has no time zones; ``timestamptz`` on PostgreSQL) and aware UTC is read back on both.
- ``as_utc`` is the conversion; a naive datetime is refused rather than guessed."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime

__all__ = ["UtcDatetime", "as_utc", "end_of_day", "utcnow"]


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(at: datetime) -> datetime:
    """The same instant in UTC; ValueError for a naive datetime (whose zone nobody knows) and for
    one whose UTC instant falls outside the calendar (before year 1 or after 9999: an offset at
    the calendar's edge, 0001-01-01T00:00:00+01:00)."""
    if at.tzinfo is None or at.tzinfo.utcoffset(at) is None:
        raise ValueError(f"{at.isoformat()} has no UTC offset: give one, e.g. 2026-12-01T05:02:49Z or +01:00")
    try:
        return at.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{at.isoformat()} is outside the times that can be kept (UTC years 1 to 9999)") from None


def end_of_day(day: str) -> datetime | None:
    """A date typed in a form (YYYY-MM-DD) as the last second of that day, UTC: an expiry or review
    date counts the whole day. None when ``day`` is not such a date."""
    try:
        return datetime.combine(datetime.strptime(day.strip(), "%Y-%m-%d").date(), time(23, 59, 59), UTC)
    except ValueError:
        return None


UtcDatetime = Annotated[AwareDatetime, AfterValidator(as_utc)]
