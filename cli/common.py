"""What every ``evidence`` command shares: who the command line acts as, one-line errors, times."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from evidence.audit import Actor
from evidence.states import Role
from pipeline.errors import EvidenceError

__all__ = ["ROOT", "UTC_TIME", "cli_actor", "clean_errors"]

ROOT = Path(__file__).resolve().parent.parent  # the repository: samples/ for the demo

F = TypeVar("F", bound=Callable[..., Any])


class UtcTime(click.ParamType[datetime]):
    """An ISO 8601 date or time, converted to UTC; one without an offset is taken as UTC."""

    name = "TIME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            at = datetime.fromisoformat(str(value))
        except ValueError:
            self.fail(f"{value!r} is not a date or time (2026-12-01, 2026-12-01T05:02:49Z, …+01:00)", param, ctx)
        return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


UTC_TIME = UtcTime()


def cli_actor() -> Actor:
    return Actor(f"cli:{os.environ.get('USER') or 'unknown'}", Role.ADMIN)


def clean_errors(fn: F) -> F:
    """One line on stderr and exit status 2 for every expected error."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except EvidenceError as exc:
            click.echo(f"error: {exc.message}", err=True)
            sys.exit(2)

    return wrapper  # type: ignore[return-value]
