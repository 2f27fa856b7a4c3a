"""``evidence db``: the database schema. On PostgreSQL the API and the workers never migrate as they
start (several would at once): ``evidence db upgrade`` is run once, with them stopped, at install
and after each release; ``evidence db status`` says whether it is needed (exit 1 when it is)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from cli.common import clean_errors, pass_runtime

if TYPE_CHECKING:
    from evidence.runtime import Runtime

__all__ = ["db"]


@click.group()
def db() -> None:
    """The database schema: its revision and its upgrade."""


@db.command("status")
@pass_runtime
@clean_errors
def db_status(rt: Runtime) -> None:
    """Print the schema revision of the database and the one this software needs; exit 1 if they differ."""
    from evidence.db import HEAD_REVISION, make_engine, schema_revision

    current = schema_revision(make_engine(rt.settings.db_url))
    click.echo(f"database schema: {current or 'none'}; this software: {HEAD_REVISION}")
    if current != HEAD_REVISION:
        sys.exit(1)


@db.command("upgrade")
@pass_runtime
@clean_errors
def db_upgrade(rt: Runtime) -> None:
    """Upgrade the schema to this software's revision (nothing to do when it is there already).
    Stop the API and the workers first; back up the database before a release's upgrade."""
    from evidence.db import make_engine, migrate, schema_revision

    engine = make_engine(rt.settings.db_url)
    before = schema_revision(engine)
    migrate(engine)
    after = schema_revision(engine)
    click.echo(f"database schema: {before or 'none'} -> {after}" if before != after else
               f"database schema: already at {after}")
