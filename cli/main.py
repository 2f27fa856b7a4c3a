"""``evidence``: the command group. Settings come from EVIDENCE_* variables (docs/settings.md); each
command's module holds its commands."""

from __future__ import annotations

import click

from cli.admin import anpr, audit, keys, plates, serve
from cli.db import db
from cli.investigate import export, index, people, search, verify
from cli.models import models, notices
from cli.process import demo, process, review, status
from cli.retention import retention
from cli.users import users
from cli.watchlist import watchlist
from cli.workers import reconcile_cmd, submit, worker

__all__ = ["main"]


@click.group()
def main() -> None:
    """Evidence Pipeline: fingerprint clips, find faces and plates, raise watchlist candidates and
    hotlist hits for review, search, and export for court."""
    # The Runtime (obj=, or built from the settings) is made when a command needs it: cli.common.runtime.


for _command in (watchlist, process, demo, status, review, submit, worker, reconcile_cmd, keys, serve, anpr, plates,
                 audit, search, people, export, verify, index, users, db, retention, models, notices):
    main.add_command(_command)


if __name__ == "__main__":
    main()
