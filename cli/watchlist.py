"""``evidence watchlist``: the authorised lists (create, authorise, lists, purge) and their
subjects (add, import, list). Every change acts as a named administrator (``cli.common``)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from cli.common import UTC_TIME, cli_actor, clean_errors, pass_runtime
from evidence.states import Role

if TYPE_CHECKING:
    from evidence.audit import Actor
    from evidence.db.governance_tables import WatchlistRow
    from evidence.runtime import Runtime
    from evidence.watchlist_lists import ListSpec
    from evidence.watchlists import EnrolResult

__all__ = ["print_enrolled", "watchlist"]

F = TypeVar("F", bound=Callable[..., Any])


@click.group()
def watchlist() -> None:
    """Authorised watchlists and their subjects."""


def print_enrolled(result: EnrolResult, quiet: bool = False) -> None:
    if not quiet:
        for name, n in result.added:
            click.echo(f"enrolled {name}: {n} new reference photo(s)")
    for problem in result.skipped:
        click.echo(f"warning: skipped {problem}", err=True)


def _end_of_day(at: datetime | None) -> datetime | None:
    """A date given without a time (2027-03-01) expires at the end of that day (UTC)."""
    return at.replace(hour=23, minute=59, second=59) if at is not None and at.time() == time(0) else at


LIST_NAME = click.option("--list", "list_name", default=None, help="the watchlist (default: the first of "
                         "EVIDENCE_DEFAULT_WATCHLISTS)")


@watchlist.command("add")
@click.option("--name", required=True, help="subject name")
@click.option("--expires", type=UTC_TIME, default=None, help="YYYY-MM-DD: purged after that day (UTC)")
@click.option("--source", default=None, help="where the photos come from, e.g. a custody image reference")
@click.option("--reason", default=None, help="why they are on the list")
@click.option("--risk", default=None, help="warning markers an officer must know, e.g. 'violent; may carry a knife'")
@LIST_NAME
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@pass_runtime
@clean_errors
def watchlist_add(rt: Runtime, name: str, expires: datetime | None, source: str | None, reason: str | None,
                  risk: str | None, list_name: str | None, images: tuple[Path, ...]) -> None:
    """Enrol NAME from one or more photos (each must show exactly one face)."""
    from evidence.watchlists import Enrolment, enrol

    actor = cli_actor(rt, Role.ADMIN)
    print_enrolled(enrol(rt, [Enrolment(name, images, expires_at=_end_of_day(expires), source=source, reason=reason,
                                           risk=risk)],
                         actor, watchlist=list_name))


@watchlist.command("import")
@click.argument("folder", type=click.Path(path_type=Path))
@LIST_NAME
@pass_runtime
@clean_errors
def watchlist_import(rt: Runtime, folder: Path, list_name: str | None) -> None:
    """Enrol every FOLDER/<subject name>/*.jpg. Unusable photos (no face, several faces,
    unreadable) are skipped with one warning line each, and the exit status is then 2."""
    from evidence.watchlists import enrol, folder_enrolments

    result = enrol(rt, folder_enrolments(folder), cli_actor(rt, Role.ADMIN), skip_unusable=True, watchlist=list_name)
    print_enrolled(result)
    if result.skipped:
        sys.exit(2)


@watchlist.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_runtime
@clean_errors
def watchlist_list(rt: Runtime, as_json: bool) -> None:
    """List live subjects: list, name, number of reference photos, expiry."""
    from evidence.watchlist_lists import watchlists
    from evidence.watchlists import list_subjects

    with rt.sessions() as s:
        names = {w.id: w.name for w in watchlists(s)}
        rows = [(r.id, names.get(r.watchlist_id, "?"), r.name, len(r.references), r.expires_at)
                for r in list_subjects(s) if r.references]
    if as_json:
        click.echo(json.dumps([{"id": i, "list": wl, "name": n, "references": k,
                                "expires_at": e.isoformat() if e else None} for i, wl, n, k, e in rows]))
        return
    for i, wl, n, k, e in rows:
        click.echo(f"{i:>4}  {wl:<16} {n:<32} {k} reference(s)" + (f", expires {e:%Y-%m-%d}" if e else ""))
    click.echo(f"{len(rows)} subject(s)")


def _spec_options(fn: F) -> F:
    for option in reversed((
            click.option("--purpose", required=True, help="what the list is for"),
            click.option("--legal-basis", required=True, help="e.g. common law policing purpose; DPA 2018 s35"),
            click.option("--category", required=True, help="e.g. wanted, missing, bail conditions"),
            click.option("--authorised-by", required=True, help="the named senior officer who authorised it"),
            click.option("--expires", type=UTC_TIME, required=True, help="YYYY-MM-DD: the list expires after that day"),
            click.option("--max-subjects", type=int, required=True, help="the most subjects it may hold"))):
        fn = option(fn)
    return fn


@watchlist.command("create")
@click.argument("name")
@_spec_options
@pass_runtime
@clean_errors
def watchlist_create(rt: Runtime, name: str, purpose: str, legal_basis: str, category: str, authorised_by: str,
                     expires: datetime, max_subjects: int) -> None:
    """Create the watchlist NAME with its authority (audited)."""
    from evidence.watchlist_lists import ListSpec, create_list

    _record(rt, create_list, ListSpec(name, purpose, legal_basis, category, authorised_by, expires, max_subjects))


@watchlist.command("authorise")
@click.argument("name")
@_spec_options
@pass_runtime
@clean_errors
def watchlist_authorise(rt: Runtime, name: str, purpose: str, legal_basis: str, category: str, authorised_by: str,
                        expires: datetime, max_subjects: int) -> None:
    """Record a new authorisation of the watchlist NAME (its review): authority, purpose, expiry (audited)."""
    from evidence.watchlist_lists import ListSpec, authorise_list

    _record(rt, authorise_list, ListSpec(name, purpose, legal_basis, category, authorised_by, expires, max_subjects))


def _record(rt: Runtime, act: Callable[[Runtime, ListSpec, Actor], WatchlistRow], spec: ListSpec) -> None:
    """Create or re-authorise a list as a named administrator; the expiry date's whole day counts."""
    spec = replace(spec, expires_at=_end_of_day(spec.expires_at) or spec.expires_at)
    wl = act(rt, spec, cli_actor(rt, Role.ADMIN))
    click.echo(f"watchlist {wl.id} {wl.name}: authorised by {wl.authorised_by}, expires {spec.expires_at:%Y-%m-%d}")


@watchlist.command("lists")
@click.option("--json", "as_json", is_flag=True)
@pass_runtime
@clean_errors
def watchlist_lists(rt: Runtime, as_json: bool) -> None:
    """Every watchlist with its authority, purpose and expiry."""
    from evidence.watchlist_lists import list_view, watchlists

    with rt.sessions() as s:
        views = [list_view(w) for w in watchlists(s)]
    if as_json:
        click.echo(json.dumps(views))
        return
    for v in views:
        state = f"purged {v['purged_at'][:10]}" if v["purged_at"] else f"expires {(v['expires_at'] or 'never')[:10]}"
        who = (f"authorised by {v['authorised_by']}" if v["authority_recorded"] else
               "AUTHORITY NOT RECORDED (`evidence watchlist authorise`)")
        click.echo(f"{v['id']:>4}  {v['name']:<16} {v['category']:<16} {who}, {state}; {v['purpose']}")


@watchlist.command("purge")
@pass_runtime
@clean_errors
def watchlist_purge(rt: Runtime) -> None:
    """Purge expired subjects and lists now (the workers do it daily): references deleted, audited."""
    from evidence.watchlist_lists import purge_expired

    purged = purge_expired(rt, cli_actor(rt, Role.ADMIN))
    click.echo(f"purged {len(purged['lists'])} list(s), {len(purged['subjects'])} subject(s)")
