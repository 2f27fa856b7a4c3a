"""``evidence watchlist add|import|list``: enrol and list watchlist subjects."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from cli.common import clean_errors, cli_actor
from evidence.runtime import Runtime
from evidence.watchlists import EnrolResult, Enrolment, enrol, folder_enrolments, list_subjects

__all__ = ["print_enrolled", "watchlist"]


@click.group()
def watchlist() -> None:
    """Enrol and list watchlist subjects."""


def print_enrolled(result: EnrolResult, quiet: bool = False) -> None:
    if not quiet:
        for name, n in result.added:
            click.echo(f"enrolled {name}: {n} new reference photo(s)")
    for problem in result.skipped:
        click.echo(f"warning: skipped {problem}", err=True)


@watchlist.command("add")
@click.option("--name", required=True, help="subject name")
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.pass_obj
@clean_errors
def watchlist_add(rt: Runtime, name: str, images: tuple[Path, ...]) -> None:
    """Enrol NAME from one or more photos (each must show exactly one face)."""
    print_enrolled(enrol(rt, [Enrolment(name, images)], cli_actor()))


@watchlist.command("import")
@click.argument("folder", type=click.Path(path_type=Path))
@click.pass_obj
@clean_errors
def watchlist_import(rt: Runtime, folder: Path) -> None:
    """Enrol every FOLDER/<subject name>/*.jpg. Unusable photos (no face, several faces,
    unreadable) are skipped with one warning line each, and the exit status is then 2."""
    result = enrol(rt, folder_enrolments(folder), cli_actor(), skip_unusable=True)
    print_enrolled(result)
    if result.skipped:
        sys.exit(2)


@watchlist.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@clean_errors
def watchlist_list(rt: Runtime, as_json: bool) -> None:
    """List subjects and their number of reference photos."""
    with rt.sessions() as s:
        rows = list_subjects(s)
    if as_json:
        click.echo(json.dumps([{"id": i, "name": n, "references": r} for i, n, r in rows]))
        return
    for i, n, r in rows:
        click.echo(f"{i:>4}  {n:<32} {r} reference(s)")
    click.echo(f"{len(rows)} subject(s)")
