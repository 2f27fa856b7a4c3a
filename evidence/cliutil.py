"""What every ``evidence`` command shares: who the command line acts as, and one-line errors."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click

from evidence.audit import Actor
from pipeline.errors import EvidenceError

__all__ = ["cli_actor", "clean_errors"]

F = TypeVar("F", bound=Callable[..., Any])


def cli_actor() -> Actor:
    return Actor(f"cli:{os.environ.get('USER') or 'unknown'}", "admin")


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
