"""``evidence process``, ``demo``, ``status`` and ``review``: a clip analysed in this process, the
seed scenario, where an evidence item stands, and a named person's decision on a candidate."""

from __future__ import annotations

import json
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from cli.common import ROOT, clean_errors, cli_actor, demo_actors, pass_runtime
from cli.watchlist import print_enrolled
from evidence.states import OPENERS, REVIEWERS, UPLOADERS, Decision, Role, WorkKind
from evidence.errors import InvalidRequest, NotFound

if TYPE_CHECKING:
    from evidence.audit import Actor
    from evidence.db.tables import CandidateRow
    from evidence.runtime import Runtime

__all__ = ["demo", "process", "review", "status"]


def _process(rt: Runtime, clip: Path, incident: str | None, as_json: bool, actor: Actor) -> dict[str, Any]:
    from sqlalchemy import func, select

    from evidence.db.tables import Evidence, FaceTrackRow
    from evidence.reports import candidate_view, crop_path, evidence_candidates, evidence_plates, evidence_view
    from evidence.work import analyse_evidence, ingest_clip

    started = time.monotonic()
    first: list[float] = []
    rt.faces.warm_up()
    evidence_id = ingest_clip(rt, clip, incident, actor)
    bar = None if as_json else click.progressbar(length=1000, label=f"analysing {clip.name}", file=sys.stderr)

    def progress(p: float) -> None:
        if bar is not None:
            bar.update(int(p * 1000) - bar.pos)

    def alert(c: CandidateRow) -> None:
        if not first:
            first.append(time.monotonic() - started)
        if bar is not None:
            lead = "\n" if sys.stderr.isatty() else ""  # step off the progress bar's line
            click.echo(f"{lead}  potential match: {c.subject.name} (score {c.score:.2f}) at {c.t_s:.1f} s", err=True)

    try:
        if bar is not None:
            bar.__enter__()
        summary = analyse_evidence(rt, evidence_id, progress, alert, hashed_at_intake=True)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    with rt.sessions() as s:
        ev = s.get(Evidence, evidence_id)
        assert ev is not None
        n_tracks = s.scalar(select(func.count()).select_from(FaceTrackRow).where(FaceTrackRow.evidence_id == ev.id))
        cands = [{**candidate_view(c), "crop_path": crop_path(c, rt.store)} for c in evidence_candidates(s, ev.id)]
        return {
            "evidence": evidence_view(ev), "incident": incident, "tracks": n_tracks, "candidates": cands,
            "plates": evidence_plates(s, ev.id, rt.store),
            "timing": {"wall_s": round(time.monotonic() - started, 3), "frames": summary.frames,
                       "working_copy_s": round(summary.working_copy_s, 3),
                       "first_candidate_s": round(first[0], 3) if first else None},
        }


def _print_result(result: dict[str, Any]) -> None:
    ev = result["evidence"]
    click.echo(f"evidence {ev['id']}  sha256 {ev['sha256']}")
    click.echo(f"  {ev['name']}: {ev['duration_s']:.1f} s, {ev['codec']} {ev['size_wh'][0]}x{ev['size_wh'][1]}"
               f", rotation {ev['rotation_deg']}°, state {ev['state']}")
    t = result["timing"]
    first = f"{t['first_candidate_s']:.1f} s" if t["first_candidate_s"] is not None else "none"
    copy = f" + working copy {t['working_copy_s']:.1f} s" if t["working_copy_s"] else ""
    click.echo(f"  {result['tracks']} face track(s), {t['frames']} frames analysed in "
               f"{t['wall_s'] - t['working_copy_s']:.1f} s{copy}; first candidate after {first}")
    cands = result["candidates"]
    if not cands:
        click.echo("no watchlist candidates")
    else:
        click.echo(f"{len(cands)} POTENTIAL match(es) — candidates for review, not identifications:")
        click.echo(f"  {'id':>4}  {'subject':<24} {'score':>6} {'dist':>6}  {'seen at':>8}  {'state':<8} crop")
        for c in cands:
            click.echo(f"  {c['id']:>4}  {c['subject']:<24} {c['score']:>6.3f} {c['distance']:>6.3f}  "
                       f"{c['t_s']:>7.1f}s  {c['review_state']:<8} {c['crop_path']}")
    plates = result.get("plates") or []
    if plates:
        click.echo(f"{len(plates)} plate sighting(s) — reads to verify against the crop:")
        click.echo(f"  {'id':>4}  {'plate':<9} {'conf':>5}  {'seen':>13}  {'reads':>5}  {'also read as':<24} crop")
        for p in plates:
            alt = ", ".join(f"{a} {share:.2f}" for a, share in p["alternatives"]) or "-"
            flag = "" if p["valid"] else " (no UK format)"
            click.echo(f"  {p['id']:>4}  {p['plate']:<9} {p['confidence']:>5.2f}  {p['first_t_s']:>5.1f}-"
                       f"{p['last_t_s']:>5.1f} s  {p['n_reads']:>5}  {alt:<24} {p['crop_path']}{flag}")


@click.command()
@click.argument("clip", type=click.Path(path_type=Path))
@click.option("--incident", help="incident reference to attach the clip to (created if new)")
@click.option("--watchlist", "watchlist_dir", type=click.Path(path_type=Path),
              help="enrol DIR/<subject name>/*.jpg before processing")
@click.option("--lists", help="comma-separated watchlists the incident's footage is matched against (default "
              "EVIDENCE_DEFAULT_WATCHLISTS); needs --incident")
@click.option("--fps", type=float, help="frames analysed per second (default EVIDENCE_SAMPLE_FPS or 2)")
@click.option("--plates/--no-plates", default=None, help="search the footage for number plates (default EVIDENCE_PLATES, on)")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object instead of a table")
@pass_runtime
@clean_errors
def process(rt: Runtime, clip: Path, incident: str | None, watchlist_dir: Path | None, lists: str | None,
            fps: float | None, plates: bool | None, as_json: bool) -> None:
    """Fingerprint CLIP, find and track faces, list watchlist candidates and plate sightings (in-process)."""
    from evidence.incidents import open_incident
    from evidence.runtime import Runtime
    from evidence.watchlists import enrol, folder_enrolments

    update: dict[str, Any] = {}
    if fps is not None:
        update["sample_fps"] = fps
    if plates is not None:
        update["plates"] = plates
    if update:
        rt = Runtime(rt.settings.model_copy(update=update))
    # Enrolling needs an administrator; choosing an incident's watchlists, someone who opens incidents.
    actor = cli_actor(rt, *((Role.ADMIN,) if watchlist_dir is not None else
                            OPENERS if lists else UPLOADERS))
    if watchlist_dir is not None:  # unusable photos are reported and skipped; the clip still runs
        enrolled = enrol(rt, folder_enrolments(watchlist_dir), actor, skip_unusable=True)
        print_enrolled(enrolled, quiet=True)
        if not as_json:
            click.echo(f"watchlist: {len(enrolled.added)} subject(s) from {watchlist_dir}")
    if lists:
        if incident is None:
            raise InvalidRequest("--lists chooses the watchlists of an incident: give --incident too")
        with rt.sessions.begin() as s:
            open_incident(s, incident, actor, watchlists=[n.strip() for n in lists.split(",")])
    result = _process(rt, clip, incident, as_json, actor)
    click.echo(json.dumps(result, indent=2) if as_json else "", nl=as_json)
    if not as_json:
        _print_result(result)


@click.command()
@pass_runtime
@clean_errors
def demo(rt: Runtime) -> None:
    """Seed scenario on samples/: incident, watchlist, the public 1080p clip, its candidates."""
    from evidence.watchlists import enrol, folder_enrolments

    out = ROOT / "samples" / "out"
    clip, wl = out / "public_1080p.mp4", out / "watchlist"
    if not clip.exists():
        raise NotFound(f"{clip} missing: run `python samples/make_samples.py` first (make demo does)")
    incident = "DEMO-FIREWORKS-001"
    click.echo(f"incident {incident}: fireworks thrown at a house; a member of the public sends a clip")
    admin, investigator = demo_actors(rt)
    click.echo(f"acting as {admin.name} and {investigator.name}")
    _demo_authority(rt, admin)
    enrolled = enrol(rt, folder_enrolments(wl), admin)
    click.echo(f"watchlist: {', '.join(n for n, _ in enrolled.added)}")
    result = _process(rt, clip, incident, False, admin)
    _print_result(result)
    _demo_investigation(rt, incident, investigator)


def _demo_authority(rt: Runtime, admin: Actor) -> None:
    """The default list authorised as a force would, once (a list's authority is never assumed)."""
    from evidence.utc import utcnow
    from evidence.watchlist_lists import ListSpec, authorise_list, list_view, watchlists

    name = rt.settings.default_watchlists[0]
    with rt.sessions() as s:
        view = next((list_view(w) for w in watchlists(s) if w.name == name), None)
    if view is not None and not view["authority_recorded"]:
        authorise_list(rt, ListSpec(name, "demo: people in the sample clips (public photos of public figures)",
                                    "demonstration only: no real person is sought", "demo", "Demo Superintendent",
                                    utcnow() + timedelta(days=365), 100), admin)
        click.echo(f"watchlist {name}: authorised by Demo Superintendent for a year")


def _demo_investigation(rt: Runtime, incident: str, actor: Actor) -> None:
    """Later, an investigator: where else does a man not on the watchlist appear (another photo
    of him), the incident's unknown faces, and the evidence package for court, verified."""
    from evidence.export import export_incident, find_incident, verify_package
    from evidence.unknown_people import incident_people
    from evidence.search import search_faces

    probe = ROOT / "samples" / "faces" / "Vaclav_Havel" / "Vaclav_Havel_0005.jpg"
    if probe.exists():
        found = search_faces(rt, probe.read_bytes(), probe.name, "demo: who is the man by the door?", actor)
        click.echo(f"investigator: face search with {probe.name} — {len(found['results'])} appearance(s):")
        for r in found["results"][:3]:
            click.echo(f"  {r['rank']}. evidence {r['evidence_id']} ({r['evidence_name']}) at {r['t_s']:.1f} s, "
                       f"distance {r['distance']:.3f}, crop {r['crop_url']}")
    with rt.sessions() as s:
        incident_id = find_incident(s, incident).id
    people = incident_people(rt, incident_id, actor)
    click.echo(f"unknown faces: {people['unknown_tracks']} track(s) in {len(people['people'])} group(s)")
    out = rt.settings.data_dir / "exports" / f"{incident}.zip"
    summary = export_incident(rt, incident_id, out, actor, "demo: evidence package for the CPS")
    check = verify_package(out)
    click.echo(f"evidence package {out}: {summary.files} files, {summary.bytes / 1e6:.1f} MB; "
               f"verify: {'intact' if check.ok else 'NOT intact'} (manifest SHA-256 {summary.manifest_sha256[:16]}…)")


@click.command()
@click.argument("evidence_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@pass_runtime
@clean_errors
def status(rt: Runtime, evidence_id: int, as_json: bool) -> None:
    """State and progress of one evidence item."""
    from evidence.db.tables import Evidence
    from evidence.reports import evidence_view, work_view

    with rt.sessions() as s:
        ev = s.get(Evidence, evidence_id)
        if ev is None:
            raise NotFound(f"evidence {evidence_id} not found")
        view = {**evidence_view(ev), "work": work_view(s, evidence_id)}
    if as_json:
        click.echo(json.dumps(view))
        return
    reason = f" ({view['failure_reason']})" if view["failure_reason"] else ""
    names = {WorkKind.QUICK: "quick pass", WorkKind.SEGMENT: "segments", WorkKind.PLATES: "plate search",
             WorkKind.TRANSCODE: "working copy"}
    order = list(names)
    work = ", ".join(f"{names.get(k, k)} {w['done']}/{w['total']} done" + (f" ({w['running']} running)"
                     if w["running"] else "") for k, w in sorted(view["work"].items(),
                                                                 key=lambda kw: order.index(kw[0]) if kw[0] in order else 9))
    click.echo(f"evidence {view['id']}: {view['state']}{reason}, {view['progress'] * 100:.0f} %"
               + (f"; {work}" if work else ""))


@click.command()
@click.argument("candidate_id", type=int)
@click.option("--decision", type=click.Choice([str(d) for d in Decision]), required=True)
@click.option("--reason", required=True)
@pass_runtime
@clean_errors
def review(rt: Runtime, candidate_id: int, decision: str, reason: str) -> None:
    """Confirm or reject a candidate: the decision of the person whose credential is given
    (EVIDENCE_KEY or EVIDENCE_USER; control room or investigator), audited."""
    from evidence.review import review_candidate

    c = review_candidate(rt, candidate_id, decision, cli_actor(rt, *REVIEWERS), reason)
    click.echo(f"candidate {c.id}: {c.review_state} by {c.reviewed_by}")
