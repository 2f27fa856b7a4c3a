"""The ``evidence`` command line. Settings come from EVIDENCE_* variables (see README)."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import click
from sqlalchemy import func, select

from evidence.audit import Actor, anchor_audit, read_anchors, verify_audit
from evidence.cli_investigate import investigate_commands
from evidence.cliutil import cli_actor as _actor, clean_errors
from evidence.db.tables import CandidateRow, Evidence, FaceTrackRow
from evidence.work import analyse_evidence, ingest_clip
from evidence.reports import candidate_view, evidence_candidates, evidence_plates, evidence_view, work_view
from evidence.runtime import Runtime
from evidence.settings import Settings
from evidence.watchlists import EnrolResult, Enrolment, enrol, folder_enrolments, list_subjects
from pipeline.errors import EvidenceError, NotFound

ROOT = Path(__file__).resolve().parent.parent


@click.group()
@click.pass_context
def main(ctx: click.Context) -> None:
    """Evidence Pipeline: fingerprint clips, find faces, raise watchlist candidates for review."""
    if ctx.obj is None:
        ctx.obj = Runtime(Settings())


# --- watchlist ---------------------------------------------------------------------------------

@main.group()
def watchlist() -> None:
    """Enrol and list watchlist subjects."""


def _print_enrolled(result: EnrolResult, quiet: bool = False) -> None:
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
    _print_enrolled(enrol(rt, [Enrolment(name, images)], _actor()))


@watchlist.command("import")
@click.argument("folder", type=click.Path(path_type=Path))
@click.pass_obj
@clean_errors
def watchlist_import(rt: Runtime, folder: Path) -> None:
    """Enrol every FOLDER/<subject name>/*.jpg. Unusable photos (no face, several faces,
    unreadable) are skipped with one warning line each, and the exit status is then 2."""
    result = enrol(rt, folder_enrolments(folder), _actor(), skip_unusable=True)
    _print_enrolled(result)
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


# --- processing --------------------------------------------------------------------------------

def _process(rt: Runtime, clip: Path, incident: str | None, as_json: bool) -> dict[str, Any]:
    started = time.monotonic()
    first: list[float] = []
    rt.faces.warm_up()
    evidence_id = ingest_clip(rt, clip, incident, _actor())
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
        cands = [candidate_view(c, rt.store) for c in evidence_candidates(s, ev.id)]
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
                       f"{c['t_s']:>7.1f}s  {c['review_state']:<8} {c['crop']}")
    plates = result.get("plates") or []
    if plates:
        click.echo(f"{len(plates)} plate sighting(s) — reads to verify against the crop:")
        click.echo(f"  {'id':>4}  {'plate':<9} {'conf':>5}  {'seen':>13}  {'reads':>5}  {'also read as':<24} crop")
        for p in plates:
            alt = ", ".join(f"{a} {share:.2f}" for a, share in p["alternatives"]) or "-"
            flag = "" if p["valid"] else " (no UK format)"
            click.echo(f"  {p['id']:>4}  {p['plate']:<9} {p['confidence']:>5.2f}  {p['first_t_s']:>5.1f}-"
                       f"{p['last_t_s']:>5.1f} s  {p['n_reads']:>5}  {alt:<24} {p['crop']}{flag}")


@main.command()
@click.argument("clip", type=click.Path(path_type=Path))
@click.option("--incident", help="incident reference to attach the clip to (created if new)")
@click.option("--watchlist", "watchlist_dir", type=click.Path(path_type=Path),
              help="enrol DIR/<subject name>/*.jpg before processing")
@click.option("--fps", type=float, help="frames analysed per second (default EVIDENCE_SAMPLE_FPS or 2)")
@click.option("--plates/--no-plates", default=None, help="search the footage for number plates (default EVIDENCE_PLATES, on)")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object instead of a table")
@click.pass_obj
@clean_errors
def process(rt: Runtime, clip: Path, incident: str | None, watchlist_dir: Path | None, fps: float | None,
            plates: bool | None, as_json: bool) -> None:
    """Fingerprint CLIP, find and track faces, list watchlist candidates and plate sightings (in-process)."""
    update: dict[str, Any] = {}
    if fps is not None:
        update["sample_fps"] = fps
    if plates is not None:
        update["plates"] = plates
    if update:
        rt = Runtime(rt.settings.model_copy(update=update))
    if watchlist_dir is not None:  # unusable photos are reported and skipped; the clip still runs
        enrolled = enrol(rt, folder_enrolments(watchlist_dir), _actor(), skip_unusable=True)
        _print_enrolled(enrolled, quiet=True)
        if not as_json:
            click.echo(f"watchlist: {len(enrolled.added)} subject(s) from {watchlist_dir}")
    result = _process(rt, clip, incident, as_json)
    click.echo(json.dumps(result, indent=2) if as_json else "", nl=as_json)
    if not as_json:
        _print_result(result)


@main.command()
@click.pass_obj
@clean_errors
def demo(rt: Runtime) -> None:
    """Seed scenario on samples/: incident, watchlist, the public 1080p clip, its candidates."""
    out = ROOT / "samples" / "out"
    clip, wl = out / "public_1080p.mp4", out / "watchlist"
    if not clip.exists():
        raise NotFound(f"{clip} missing: run `python samples/make_samples.py` first (make demo does)")
    incident = "DEMO-FIREWORKS-001"
    click.echo(f"incident {incident}: fireworks thrown at a house; a member of the public sends a clip")
    enrolled = enrol(rt, folder_enrolments(wl), _actor())
    click.echo(f"watchlist: {', '.join(n for n, _ in enrolled.added)}")
    result = _process(rt, clip, incident, as_json=False)
    _print_result(result)
    _demo_investigation(rt, incident)


def _demo_investigation(rt: Runtime, incident: str) -> None:
    """Later, an investigator: where else does a man not on the watchlist appear (another photo
    of him), the incident's unknown faces, and the evidence package for court, verified."""
    from evidence.export import export_incident, find_incident, verify_package
    from evidence.people import incident_people
    from evidence.search import search_faces

    probe = ROOT / "samples" / "faces" / "Vaclav_Havel" / "Vaclav_Havel_0005.jpg"
    actor = Actor(f"{_actor().name} (investigator)", "investigator")
    if probe.exists():
        found = search_faces(rt, probe.read_bytes(), probe.name, "demo: who is the man by the door?", actor)
        click.echo(f"investigator: face search with {probe.name} — {len(found['results'])} appearance(s):")
        for r in found["results"][:3]:
            click.echo(f"  {r['rank']}. evidence {r['evidence_id']} ({r['evidence_name']}) at {r['t_s']:.1f} s, "
                       f"distance {r['distance']:.3f}, crop {r['crop']}")
    with rt.sessions() as s:
        incident_id = find_incident(s, incident).id
    people = incident_people(rt, incident_id, actor)
    click.echo(f"unknown faces: {people['unknown_tracks']} track(s) in {len(people['people'])} group(s)")
    out = rt.settings.data_dir / "exports" / f"{incident}.zip"
    summary = export_incident(rt, incident_id, out, actor, "demo: evidence package for the CPS")
    check = verify_package(out)
    click.echo(f"evidence package {out}: {summary.files} files, {summary.bytes / 1e6:.1f} MB; "
               f"verify: {'intact' if check.ok else 'NOT intact'} (manifest SHA-256 {summary.manifest_sha256[:16]}…)")


def _queue(rt: Runtime):  # type: ignore[no-untyped-def]
    from workers.queue import connect, make_queue

    from redis.exceptions import RedisError

    if not rt.settings.redis_url:
        raise EvidenceError("no Redis configured: set EVIDENCE_REDIS_URL (or use `evidence process`)")
    redis = connect(rt.settings.redis_url)
    try:
        redis.ping()
    except RedisError as exc:
        raise EvidenceError(f"Redis at {rt.settings.redis_url} not reachable ({exc})") from exc
    return make_queue(redis, rt.settings.queue_name)


@main.command()
@click.argument("clip", type=click.Path(path_type=Path))
@click.option("--incident", help="incident reference to attach the clip to (created if new)")
@click.pass_obj
@clean_errors
def submit(rt: Runtime, clip: Path, incident: str | None) -> None:
    """Fingerprint and store CLIP, then queue its analysis for the workers (EVIDENCE_REDIS_URL)."""
    from workers.queue import reconcile

    queue = _queue(rt)
    evidence_id = ingest_clip(rt, clip, incident, _actor())
    reconcile(rt, queue)  # enqueues its ingest (and anything else unfinished that nobody holds)
    with rt.sessions() as s:
        ev = s.get(Evidence, evidence_id)
        assert ev is not None
        state = ev.state
    click.echo(f"evidence {evidence_id} {state}")


@main.command()
@click.option("--queues", default=None, help="comma-separated queue names (default EVIDENCE_QUEUE_NAME)")
@click.option("--burst", is_flag=True, help="stop when the queues are empty")
@click.option("--threads", type=click.IntRange(1, 64), default=None,
              help="CPU threads per job for decoding and detection (default 1: start one worker per core)")
@click.pass_obj
@clean_errors
def worker(rt: Runtime, queues: str | None, burst: bool, threads: int | None) -> None:
    """Run an RQ worker; it first re-queues unfinished work that nobody holds (`evidence reconcile`)."""
    from rq import Worker
    from rq.serializers import JSONSerializer

    from workers.queue import make_queue, reconcile, schedule_retention

    queue = _queue(rt)
    requeued = reconcile(rt, queue)
    if requeued:
        click.echo(f"re-queued evidence {', '.join(map(str, requeued))}", err=True)
    schedule_retention(queue)  # today's ANPR retention run (one per day, whoever starts first)
    # Each job builds its settings from the environment: the worker's thread count goes there.
    for name in ("EVIDENCE_DETECT_THREADS", "EVIDENCE_DECODE_THREADS"):
        if threads is not None or not os.environ.get(name):
            os.environ[name] = str(threads or 1)
    rt.faces.load()  # once, before RQ forks a work-horse per job
    rt.engine.dispose()  # no pooled connection crosses the fork
    names = queues.split(",") if queues else [rt.settings.queue_name]
    Worker([make_queue(queue.connection, n) for n in names], connection=queue.connection,
           serializer=JSONSerializer).work(burst=burst, with_scheduler=True)


@main.command("reconcile")
@click.pass_obj
@clean_errors
def reconcile_cmd(rt: Runtime) -> None:
    """Re-queue evidence that is unfinished and held by no live worker (after a crash or a Redis loss)."""
    from workers.queue import reconcile

    requeued = reconcile(rt, _queue(rt))
    click.echo(f"re-queued {len(requeued)} evidence item(s){': ' if requeued else ''}{', '.join(map(str, requeued))}")


@main.command()
@click.argument("evidence_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@clean_errors
def status(rt: Runtime, evidence_id: int, as_json: bool) -> None:
    """State and progress of one evidence item."""
    with rt.sessions() as s:
        ev = s.get(Evidence, evidence_id)
        if ev is None:
            raise NotFound(f"evidence {evidence_id} not found")
        view = {**evidence_view(ev), "work": work_view(s, evidence_id)}
    if as_json:
        click.echo(json.dumps(view))
        return
    reason = f" ({view['failure_reason']})" if view["failure_reason"] else ""
    names = {"quick": "quick pass", "segment": "segments", "plates": "plate search", "transcode": "working copy"}
    order = list(names)
    work = ", ".join(f"{names.get(k, k)} {w['done']}/{w['total']} done" + (f" ({w['running']} running)"
                     if w["running"] else "") for k, w in sorted(view["work"].items(),
                                                                 key=lambda kw: order.index(kw[0]) if kw[0] in order else 9))
    click.echo(f"evidence {view['id']}: {view['state']}{reason}, {view['progress'] * 100:.0f} %"
               + (f"; {work}" if work else ""))


# --- review and audit ----------------------------------------------------------------------------

@main.command()
@click.argument("candidate_id", type=int)
@click.option("--decision", type=click.Choice(["confirmed", "rejected"]), required=True)
@click.option("--user", required=True, help="the named person making the decision")
@click.option("--reason", required=True)
@click.pass_obj
@clean_errors
def review(rt: Runtime, candidate_id: int, decision: str, user: str, reason: str) -> None:
    """Confirm or reject a candidate (a named user's decision, audited)."""
    from evidence.review import review_candidate

    c = review_candidate(rt, candidate_id, decision, Actor(user, "control_room"), reason)
    click.echo(f"candidate {c.id}: {c.review_state} by {c.reviewed_by}")


# --- API keys and the HTTP API --------------------------------------------------------------------

@main.group()
def keys() -> None:
    """API keys for the HTTP API (one role each)."""


@keys.command("create")
@click.option("--role", required=True, type=click.Choice(["control_room", "investigator", "admin", "camera",
                                                          "uploader"]))
@click.option("--name", required=True, help="whose key it is (a person, a camera, a system)")
@click.pass_obj
@clean_errors
def keys_create(rt: Runtime, role: str, name: str) -> None:
    """Make a key; it is printed once, as the last word of the output (only its hash is stored)."""
    from evidence.keys import create_key

    key_id, key = create_key(rt, name, role, _actor())
    click.echo(f"key {key_id} for {name} ({role}): {key}")


@keys.command("list")
@click.pass_obj
@clean_errors
def keys_list(rt: Runtime) -> None:
    """Keys by id: name, role, prefix, revoked or not."""
    from evidence.keys import list_keys

    with rt.sessions() as s:
        for k in list_keys(s):
            click.echo(f"{k.id:>4}  {k.name:<32} {k.role:<13} {k.prefix}…  {'revoked' if k.revoked_at else 'active'}")


@keys.command("revoke")
@click.argument("key_id", type=int)
@click.pass_obj
@clean_errors
def keys_revoke(rt: Runtime, key_id: int) -> None:
    """Revoke a key (it stops working at once; the row stays for the audit trail)."""
    from evidence.keys import revoke_key

    revoke_key(rt, key_id, _actor())
    click.echo(f"key {key_id} revoked")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
def serve(host: str, port: int) -> None:
    """Serve the HTTP API (OpenAPI document at /docs and /openapi.json)."""
    import uvicorn

    from api.main import create_app
    from workers.queue import RQWorkQueue

    _limit_malloc_arenas(2)
    settings = Settings()
    queue = RQWorkQueue(Runtime(settings)) if settings.redis_url else None
    uvicorn.run(create_app(settings, queue), host=host, port=port)


M_ARENA_MAX = -8  # glibc's mallopt parameter number (malloc.h)


def _limit_malloc_arenas(n: int) -> None:
    """glibc gives each thread that allocates under contention an arena of its own (up to 8 per
    core) and rarely hands their free space back: a server's thread pool then holds on to memory a
    burst of requests once needed (measured with benchmarks/soak.py: +68 MB after 500 mixed requests
    with the default, +23 MB with 2 arenas, flat after). No-op off glibc."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(M_ARENA_MAX, n)
    except (OSError, AttributeError):
        pass


@main.group()
def anpr() -> None:
    """ANPR camera reads."""


@anpr.command("purge")
@click.pass_obj
@clean_errors
def anpr_purge(rt: Runtime) -> None:
    """Delete camera reads older than EVIDENCE_ANPR_RETENTION_DAYS (workers also do it daily)."""
    from evidence.anpr import purge_reads

    n = purge_reads(rt, _actor())
    click.echo(f"deleted {n} camera read(s) older than {rt.settings.anpr_retention_days} days")


@main.group()
def plates() -> None:
    """Number plates in still images."""


@plates.command("read")
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--crop", "as_crop", is_flag=True, help="each image is a plate crop: read it whole, no detection")
@click.option("--json", "as_json", is_flag=True, help='one JSON object per image: {"image", "reads": [...]}')
@click.pass_obj
def plates_read(rt: Runtime, images: tuple[Path, ...], as_crop: bool, as_json: bool) -> None:
    """Find and read the UK number plates in IMAGES (JPEG/PNG). Reads are surest first, repaired by
    the UK plate grammar where it decides; a read fitting no UK format is flagged. An image that
    is itself plate-shaped (twice as wide as high) and holds no plate found by detection is read
    whole. Unreadable images are reported and skipped (exit status 2)."""
    from evidence.images import read_rgb
    from pipeline.platereading import read_image

    m, params, failed = rt.plates, rt.analysis.plate, False
    for path in images:
        try:
            image = read_rgb(path)
        except EvidenceError as exc:
            click.echo(f"error: {exc.message}", err=True)
            failed = True
            continue
        reads = [{"plate": d.read.plate, "confidence": round(d.confidence, 4), "xyxy": [round(v, 1) for v in d.xyxy],
                  "raw": d.read.raw, "format": d.read.format, "valid": d.read.valid}
                 for d in read_image(image, m.detector, m.recogniser, params, as_crop)]
        if as_json:
            click.echo(json.dumps({"image": str(path), "reads": reads}))
            continue
        click.echo(f"{path}: " + (", ".join(
            f"{r['plate']} ({r['confidence']:.2f}{'' if r['valid'] else ', no UK format'})" for r in reads)
            or "no plate found"))
    if failed:
        sys.exit(2)


@main.group()
def audit() -> None:
    """The append-only audit log."""


@audit.command("verify")
@click.option("--anchors", "anchors_path", type=click.Path(path_type=Path),
              help="anchor file to check the chain against (default EVIDENCE_AUDIT_ANCHORS, if it exists)")
@click.pass_obj
@clean_errors
def audit_verify(rt: Runtime, anchors_path: Path | None) -> None:
    """Check the hash chain, its head and every anchor; report what is wrong (exit status 1)."""
    path = anchors_path or rt.settings.audit_anchors_file
    if (anchors_path is not None or rt.settings.audit_anchors is not None) and not path.is_file():
        raise NotFound(f"{path}: no such anchor file (a missing anchor file hides a truncated log)")
    try:
        anchors = read_anchors(path) if path.is_file() else []
    except ValueError as exc:
        raise EvidenceError(str(exc)) from exc
    with rt.sessions() as s:
        check = verify_audit(s, anchors)
    pinned = (f", {len(anchors)} anchor(s) from {path} hold" if anchors
              else f"; no anchor checked (none at {path}: `evidence audit anchor` makes one)")
    if check.ok:
        click.echo(f"audit log intact: {check.entries} entries{pinned}")
        return
    click.echo(f"audit log BROKEN ({check.entries} entries):", err=True)
    for problem in check.problems:
        click.echo(f"  {problem}", err=True)
    sys.exit(1)


@audit.command("anchor")
@click.option("--out", type=click.Path(path_type=Path),
              help="file to append the anchor to (default EVIDENCE_AUDIT_ANCHORS); keep it where the database "
                   "cannot be used to rewrite it")
@click.pass_obj
@clean_errors
def audit_anchor(rt: Runtime, out: Path | None) -> None:
    """Pin the chain as it is now: append its entry count and newest hash to an anchor file (and
    print it, e.g. for a records system). `audit verify` then detects a truncated or rewritten log."""
    path = out or rt.settings.audit_anchors_file
    with rt.sessions.begin() as s:
        anchor = anchor_audit(s, path, _actor())
    click.echo(anchor.line())


for _command in investigate_commands:
    main.add_command(_command)


if __name__ == "__main__":
    main()
