"""``evidence retention``: what is kept and for how long — the daily purge run now, an incident
held for investigation (its bystanders' faces kept), its retention class and review date, and the
incidents due for review. Every change acts as a named person and is audited."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING

import click

from cli.common import UTC_TIME, cli_actor, clean_errors, pass_runtime
from evidence.states import Role

if TYPE_CHECKING:
    from evidence.runtime import Runtime

__all__ = ["retention"]

HOLDERS = (Role.INVESTIGATOR, Role.ADMIN)


@click.group()
def retention() -> None:
    """Retention of biometric data and evidence (docs/governance.md, "Retention in code")."""


@retention.command("run")
@pass_runtime
@clean_errors
def retention_run(rt: Runtime) -> None:
    """Purge now what the workers purge daily: bystanders' face tracks past
    EVIDENCE_BYSTANDER_RETENTION_DAYS and expired watchlist subjects and lists (audited)."""
    from evidence.retention import purge_bystanders
    from evidence.watchlist_lists import purge_expired

    actor = cli_actor(rt, Role.ADMIN)
    tracks = purge_bystanders(rt, actor)
    purged = purge_expired(rt, actor)
    click.echo(f"deleted {tracks} unmatched face track(s) older than {rt.settings.bystander_retention_days:g} days; "
               f"purged {len(purged['lists'])} watchlist(s) and {len(purged['subjects'])} subject(s)")


@retention.command("hold")
@click.argument("incident")
@click.option("--reason", required=True, help="why it is under investigation (audited)")
@pass_runtime
@clean_errors
def retention_hold(rt: Runtime, incident: str, reason: str) -> None:
    """Mark INCIDENT for investigation: its unmatched face tracks are kept until released."""
    from evidence.retention import hold

    row = hold(rt, incident, reason, cli_actor(rt, *HOLDERS))
    click.echo(f"incident {row.reference} held for investigation")


@retention.command("release")
@click.argument("incident")
@click.option("--reason", required=True)
@pass_runtime
@clean_errors
def retention_release(rt: Runtime, incident: str, reason: str) -> None:
    """End INCIDENT's hold: its unmatched tracks past the period go at the next purge."""
    from evidence.retention import release

    row = release(rt, incident, reason, cli_actor(rt, *HOLDERS))
    click.echo(f"incident {row.reference} released")


@retention.command("classify")
@click.argument("incident")
@click.argument("retention_class")
@click.option("--reason", required=True)
@pass_runtime
@clean_errors
def retention_classify(rt: Runtime, incident: str, retention_class: str, reason: str) -> None:
    """Put INCIDENT's evidence on RETENTION_CLASS (EVIDENCE_RETENTION_CLASSES): its review date follows."""
    from evidence.retention import classify

    row = classify(rt, incident, retention_class, reason, cli_actor(rt, *HOLDERS))
    click.echo(f"incident {row.reference}: {retention_class}, review by {row.review_at:%Y-%m-%d}")


@retention.command("review")
@click.argument("incident")
@click.option("--keep-until", type=UTC_TIME, required=True, help="YYYY-MM-DD: the next review date")
@click.option("--reason", required=True)
@pass_runtime
@clean_errors
def retention_review(rt: Runtime, incident: str, keep_until: datetime, reason: str) -> None:
    """Record a review of INCIDENT's evidence: kept until the next review date (audited)."""
    from evidence.retention import review_retention

    row = review_retention(rt, incident, keep_until, reason, cli_actor(rt, *HOLDERS))
    click.echo(f"incident {row.reference}: kept, next review {keep_until:%Y-%m-%d}")


@retention.command("due")
@click.option("--json", "as_json", is_flag=True)
@pass_runtime
@clean_errors
def retention_due(rt: Runtime, as_json: bool) -> None:
    """Incidents whose evidence is due for a retention review."""
    from evidence.retention import due_for_review

    with rt.sessions() as s:
        rows = [{"incident": i.reference, **r} for i, r in due_for_review(s, rt.settings)]
    if as_json:
        click.echo(json.dumps(rows))
        return
    for r in rows:
        click.echo(f"{r['incident']:<24} {r['class']:<14} review due {r['review_at'][:10]}"
                   + (" (held)" if r["hold"] else ""))
    click.echo(f"{len(rows)} incident(s) due for review")


