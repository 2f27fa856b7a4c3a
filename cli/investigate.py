"""Investigators' commands: ``search face|plate``, ``people``, ``export``, ``verify`` and
``index rebuild``. Every search and export needs a reason, recorded in the audit log."""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from cli.common import UTC_TIME, cli_actor, clean_errors, pass_runtime
from evidence.states import EXPORTERS, READERS
from pipeline.errors import InvalidReference
from pipeline.geo import GeoBox

if TYPE_CHECKING:
    from evidence.runtime import Runtime

__all__ = ["export", "index", "people", "search", "verify"]


def _box(_: click.Context, __: click.Parameter, value: str | None) -> GeoBox | None:
    try:
        return GeoBox.from_text(value) if value else None
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


_since = click.option("--since", type=UTC_TIME, help="from this time (footage: when it was received)")
_until = click.option("--until", type=UTC_TIME, help="up to this time")
_boxopt = click.option("--box", callback=_box, metavar="LAT1,LON1,LAT2,LON2",
                       help="only where it was filmed / read inside this box (degrees)")
_reason = click.option("--reason", required=True, help="why you search: recorded in the audit log")


@click.group()
def search() -> None:
    """Investigators' searches (a reason is required and audited)."""


@search.command("face")
@click.argument("photo", type=click.Path(path_type=Path))
@_reason
@_since
@_until
@click.option("--incident", "incidents", type=int, multiple=True, help="only this incident (number; repeatable)")
@_boxopt
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@pass_runtime
@clean_errors
def search_face(rt: Runtime, photo: Path, reason: str, since: datetime | None, until: datetime | None,
                incidents: tuple[int, ...], box: GeoBox | None, limit: int, as_json: bool) -> None:
    """Where else does the face in PHOTO appear? Appearances in all processed footage, closest first:
    candidates for a person to look at, never identities."""
    from evidence.search import FaceFilters, search_faces

    if not photo.is_file():
        raise InvalidReference(f"{photo}: no such file")
    found = search_faces(rt, photo.read_bytes(), str(photo), reason, cli_actor(rt, *READERS),
                         FaceFilters(since, until, incidents, box), limit)
    if as_json:
        click.echo(json.dumps(found))
        return
    click.echo(f"{len(found['results'])} appearance(s) within distance {found['max_distance']} "
               f"({found['indexed']} face tracks indexed) — candidates to verify against the crops:")
    for r in found["results"]:
        click.echo(f"  {r['rank']:>3}. distance {r['distance']:.3f}  incident {r['incident_id']}  evidence "
                   f"{r['evidence_id']} ({r['evidence_name']}) at {r['t_s']:.1f} s  [track {r['track_id']}]")


@search.command("plate")
@click.argument("query")
@_reason
@_since
@_until
@click.option("--camera", help="camera reads of this camera only")
@_boxopt
@click.option("--access", type=int, help="an approved request for reads past 90 days (`evidence anpr access`)")
@click.option("--json", "as_json", is_flag=True)
@pass_runtime
@clean_errors
def search_plate(rt: Runtime, query: str, reason: str, since: datetime | None, until: datetime | None,
                 camera: str | None, box: GeoBox | None, access: int | None, as_json: bool) -> None:
    """Every sighting of QUERY (AB12CDE, AB1?CDE, *CDE; O/0, I/1, ... alike) in camera reads and footage.
    Camera reads past EVIDENCE_ANPR_REASON_AFTER_DAYS need an approved --access request."""
    from evidence.search import search_plates

    results, reads_since = search_plates(rt, query, reason, cli_actor(rt, *READERS), since, until, camera, box,
                                         access=access)
    when = reads_since.isoformat() if reads_since else None
    if as_json:
        click.echo(json.dumps({"query": query, "count": len(results), "reads_since": when, "results": results}))
        return
    click.echo(f"{len(results)} result(s) for {query} (camera reads since {when or 'the first'}) — reads to verify "
               "against their images:")
    for r in results:
        where = (f"camera {r['camera_id']} at {r['at']}" if r["source"] == "camera"
                 else f"evidence {r['evidence_id']} ({r['evidence_name']}) at {r['t_s']:.1f} s")
        click.echo(f"  {r['vrm']:<9} {r['confidence']:.2f}  {r['source']:<8} {where}")


@click.command("people")
@click.argument("incident", type=int)
@click.option("--json", "as_json", is_flag=True)
@pass_runtime
@clean_errors
def people(rt: Runtime, incident: int, as_json: bool) -> None:
    """INCIDENT's unknown faces (no watchlist candidate) grouped into people, with where else each appears."""
    from evidence.unknown_people import incident_people

    found = incident_people(rt, incident, cli_actor(rt, *EXPORTERS))
    if as_json:
        click.echo(json.dumps(found))
        return
    click.echo(f"{found['unknown_tracks']} unknown face track(s) in {len(found['people'])} group(s) "
               f"(mean distance <= {found['threshold']}) — suggestions to check, not identities:")
    for p in found["people"]:
        seen = ", ".join(f"evidence {a['evidence_id']} at {a['t_s']:.1f} s" for a in p["appearances"])
        click.echo(f"  {p['person']}: {p['clips']} clip(s): {seen}")
        for a in p["elsewhere"]:
            click.echo(f"      elsewhere: incident {a['incident_id']} evidence {a['evidence_id']} at {a['t_s']:.1f} s "
                       f"(distance {a['distance']:.3f})")


@click.command("export")
@click.argument("incident")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="the package to write (.zip)")
@click.option("--reason", required=True, help="why it is exported: recorded in the audit log")
@click.option("--redact", is_flag=True, help="add disclosure copies with every face blurred but confirmed subjects'")
@click.option("--redact-plates", is_flag=True, help="blur number plates too (implies --redact)")
@pass_runtime
@clean_errors
def export(rt: Runtime, incident: str, out: Path, reason: str, redact: bool, redact_plates: bool) -> None:
    """Write INCIDENT's (reference or number) evidence package: originals, working copies, reports,
    provenance, audit extract and a SHA-256 manifest (check it with `evidence verify`)."""
    from evidence.export import export_incident, find_incident
    from evidence.redaction import redactor_for

    actor = cli_actor(rt, *EXPORTERS)
    started = time.monotonic()
    with rt.sessions() as s:
        incident_id = find_incident(s, incident).id
    summary = export_incident(rt, incident_id, out, actor, reason,
                              redactor_for(rt, actor, redact_plates) if redact or redact_plates else None)
    click.echo(f"wrote {summary.path}: {summary.evidence} evidence item(s), {summary.files} files, "
               f"{summary.bytes / 1e6:.1f} MB in {time.monotonic() - started:.1f} s")
    click.echo(f"manifest SHA-256 {summary.manifest_sha256} (recorded in the audit log)")


@click.command("verify")
@click.argument("package", type=click.Path(path_type=Path))
def verify(package: Path) -> None:
    """Check an evidence package against its SHA-256 manifest; exit 1 if anything differs."""
    from evidence.export import verify_package

    check = verify_package(package)
    for problem in check.problems:
        click.echo(f"FAIL {problem}", err=True)
    if not check.ok:
        click.echo(f"{package}: NOT intact ({len(check.problems)} problem(s))", err=True)
        sys.exit(1)
    click.echo(f"{package}: intact, {check.files} files match the manifest (manifest SHA-256 {check.manifest_sha256})")


@click.group()
def index() -> None:
    """The face search index (a cache of the database)."""


@index.command("rebuild")
@pass_runtime
def index_rebuild(rt: Runtime) -> None:
    """Build the face index afresh from every face track in the database."""
    started = time.monotonic()
    n = rt.face_index.rebuild(rt.sessions)
    click.echo(f"indexed {n} face tracks in {time.monotonic() - started:.1f} s ({rt.face_index.path})")

