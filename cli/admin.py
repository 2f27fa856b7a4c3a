"""Administration: API keys, the HTTP API, camera-read retention, plates in still images, and the
audit log (verify, anchor)."""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import sys
from typing import TYPE_CHECKING, Any
from pathlib import Path

import click

from cli.common import clean_errors, cli_actor, first_admin_or_actor, pass_runtime
from evidence.states import READERS, ROLES, Role
from evidence.errors import EvidenceError, NotFound

if TYPE_CHECKING:
    from evidence.runtime import Runtime

__all__ = ["anpr", "audit", "keys", "plates", "serve"]


@click.group()
def keys() -> None:
    """API keys for the HTTP API (one role each)."""


@keys.command("create")
@click.option("--role", required=True, type=click.Choice([str(r) for r in ROLES]))
@click.option("--name", required=True, help="whose key it is (a person, a camera, a system)")
@click.option("--stream", "streams", multiple=True, metavar="ID",
              help="an OpenALPR agent's video stream (its camera_id; repeat for each): its cameras are NAME/ID, "
                   "and reads or heartbeats for any other stream are not kept")
@pass_runtime
@clean_errors
def keys_create(rt: Runtime, role: str, name: str, streams: tuple[str, ...]) -> None:
    """Make a key; it is printed once, as the last word of the output (only its hash is stored)."""
    from evidence.keys import create_key

    key_id, key = create_key(rt, name, role, first_admin_or_actor(rt, role), list(streams))
    click.echo(f"key {key_id} for {name} ({role}): {key}")


@keys.command("streams")
@click.argument("key_id", type=int)
@click.option("--stream", "streams", multiple=True, metavar="ID", help="each video stream the agent may report "
              "(all of them: the list replaces the key's; none clears it)")
@pass_runtime
@clean_errors
def keys_streams(rt: Runtime, key_id: int, streams: tuple[str, ...]) -> None:
    """Register an OpenALPR agent key's video streams anew (audited); its open connections see it at once."""
    from evidence.keys import set_streams

    now = set_streams(rt, key_id, list(streams), cli_actor(rt, Role.ADMIN))
    click.echo(f"key {key_id}: streams {', '.join(now) if now else 'none'}")


@keys.command("list")
@pass_runtime
@clean_errors
def keys_list(rt: Runtime) -> None:
    """Keys by id: name, role, prefix, revoked or not (an agent's key: its registered streams)."""
    from evidence.keys import list_keys

    with rt.sessions() as s:
        for k in list_keys(s):
            streams = f"  streams {', '.join(k.streams)}" if k.streams else ""
            click.echo(f"{k.id:>4}  {k.name:<32} {k.role:<13} {k.prefix}…  {'revoked' if k.revoked_at else 'active'}"
                       f"{streams}")


@keys.command("revoke")
@click.argument("key_id", type=int)
@pass_runtime
@clean_errors
def keys_revoke(rt: Runtime, key_id: int) -> None:
    """Revoke a key (it stops working at once; the row stays for the audit trail)."""
    from evidence.keys import revoke_key

    revoke_key(rt, key_id, cli_actor(rt, Role.ADMIN))
    click.echo(f"key {key_id} revoked")


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@clean_errors
def serve(host: str, port: int) -> None:
    """Serve the HTTP API (OpenAPI document at /docs and /openapi.json). Refuses to start on a
    database whose schema is not this software's (`evidence db upgrade`)."""
    import uvicorn  # imported when serving only: every other command starts faster without them

    from api.main import create_app
    from evidence.logs import configure_logging
    from evidence.runtime import Runtime
    from evidence.settings import Settings
    from workers.queue import RQWorkQueue

    _limit_malloc_arenas(2)
    settings = Settings()
    rt = Runtime(settings)
    _ = rt.engine  # the schema checked (or, on SQLite, upgraded) before serving
    queue = RQWorkQueue(rt) if settings.redis_url else None
    configure_logging(settings.log_format)  # uvicorn's own lines too; the access lines are api.ops.Observe's
    app = create_app(settings, queue)

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            app.state.stopping.set()  # open live feeds end now, so the connections close and it exits
            super().handle_exit(sig, frame)

    # Past 10 s of shutdown whatever is still running is cancelled (a client that never reads).
    Server(uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False,
                          timeout_graceful_shutdown=10)).run()


M_ARENA_MAX = -8  # glibc's mallopt parameter number (malloc.h)


def _limit_malloc_arenas(n: int) -> None:
    """glibc gives each thread that allocates under contention an arena of its own (up to 8 per
    core) and rarely hands their free space back: a server's thread pool then holds on to memory a
    burst of requests once needed (measured with benchmarks/soak.py: +68 MB after 500 mixed requests
    with the default, +23 MB with 2 arenas, flat after). No-op off glibc."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(M_ARENA_MAX, n)
    except (OSError, AttributeError):
        pass


@click.group()
def anpr() -> None:
    """ANPR camera reads."""


@anpr.command("purge")
@pass_runtime
@clean_errors
def anpr_purge(rt: Runtime) -> None:
    """Delete camera reads older than EVIDENCE_ANPR_RETENTION_DAYS (workers also do it daily)."""
    from evidence.anpr import purge_reads

    n = purge_reads(rt, cli_actor(rt, Role.ADMIN))
    click.echo(f"deleted {n} camera read(s) older than {rt.settings.anpr_retention_days} days")


@anpr.group("access")
def anpr_access() -> None:
    """Access to camera reads older than 90 days: asked for, then approved by a second person."""


@anpr_access.command("request")
@click.argument("query")
@click.option("--reason", required=True, help="why the old reads are needed (audited)")
@pass_runtime
@clean_errors
def access_request(rt: Runtime, query: str, reason: str) -> None:
    """Ask for access to the camera reads of QUERY (AB12CDE, AB1?CDE) older than 90 days."""
    from evidence.anpr_access import request_access

    row = request_access(rt, cli_actor(rt, *READERS), query, reason)
    click.echo(f"access request {row.id} for {query}: pending, for a person with the authority role to decide")


@anpr_access.command("list")
@click.option("--pending", is_flag=True, help="only those awaiting a decision")
@pass_runtime
@clean_errors
def access_list(rt: Runtime, pending: bool) -> None:
    """Requests, newest first: who asked, for what, why, and the decision."""
    from evidence.anpr_access import accesses

    cli_actor(rt, *READERS, Role.AUTHORITY)
    with rt.sessions() as s:
        for r in accesses(s, pending):
            decided = f"{r.state} by {r.decided_by}: {r.decision_reason}" if r.decided_by else r.state
            click.echo(f"{r.id:>4}  {r.scope.get('query', ''):<9} asked by {r.requested_by} ({r.reason}); {decided}")


@anpr_access.command("decide")
@click.argument("access_id", type=int)
@click.option("--decision", type=click.Choice(["approved", "refused"]), required=True)
@click.option("--reason", required=True)
@pass_runtime
@clean_errors
def access_decide(rt: Runtime, access_id: int, decision: str, reason: str) -> None:
    """Approve or refuse request ACCESS_ID: a person with the authority role, not its requester."""
    from evidence.anpr_access import decide_access

    row = decide_access(rt, access_id, decision == "approved", reason, cli_actor(rt, Role.AUTHORITY))
    until = f" until {row.expires_at:%Y-%m-%d %H:%M}Z" if row.expires_at else ""
    click.echo(f"access request {row.id}: {row.state} by {row.decided_by}{until}")


@click.group()
def plates() -> None:
    """Number plates in still images."""


@plates.command("read")
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--crop", "as_crop", is_flag=True, help="each image is a plate crop: read it whole, no detection")
@click.option("--json", "as_json", is_flag=True, help='one JSON object per image: {"image", "reads": [...]}')
@pass_runtime
def plates_read(rt: Runtime, images: tuple[Path, ...], as_crop: bool, as_json: bool) -> None:
    """Find and read the number plates in IMAGES (JPEG/PNG). Reads are surest first, each with the
    country the reader places the plate in (GB: the UK grammar repairs it where it decides; a plate
    placed abroad is kept as read); a British read fitting no UK format is flagged. An image that
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
                  "raw": d.read.raw, "format": d.read.format, "valid": d.read.valid, "region": d.read.region}
                 for d in read_image(image, m.detector, m.recogniser, params, as_crop)]
        if as_json:
            click.echo(json.dumps({"image": str(path), "reads": reads}))
            continue
        click.echo(f"{path}: " + (", ".join(
            f"{r['plate']} ({r['confidence']:.2f}, {r['region'] or 'country unknown'}"
            f"{'' if r['valid'] or r['region'] not in (None, 'GB') else ', no UK format'})" for r in reads)
            or "no plate found"))
    if failed:
        sys.exit(2)


@click.group()
def audit() -> None:
    """The append-only audit log."""


@audit.command("verify")
@click.option("--anchors", "anchors_path", type=click.Path(path_type=Path),
              help="anchor file to check the chain against (default EVIDENCE_AUDIT_ANCHORS, if it exists)")
@pass_runtime
@clean_errors
def audit_verify(rt: Runtime, anchors_path: Path | None) -> None:
    """Check the hash chain, its head and every anchor; report what is wrong (exit status 1)."""
    from evidence.audit import read_anchors, verify_audit

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
@pass_runtime
@clean_errors
def audit_anchor(rt: Runtime, out: Path | None) -> None:
    """Pin the chain as it is now: append its entry count and newest hash to an anchor file (and
    print it, e.g. for a records system). `audit verify` then detects a truncated or rewritten log."""
    from evidence.audit import anchor_audit

    path = out or rt.settings.audit_anchors_file
    with rt.sessions.begin() as s:
        anchor = anchor_audit(s, path, cli_actor(rt, Role.ADMIN))
    click.echo(anchor.line())
