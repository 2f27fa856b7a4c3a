"""``evidence models``: which model plays each role (chosen by name in the settings), its version,
SHA-256 and licence; and ``evidence models reembed`` after the face embedder is changed."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from cli.common import cli_actor, clean_errors, pass_runtime, runtime
from evidence.states import Role
from models.registry import ROLES, ModelEntry
from pipeline.errors import EvidenceError

if TYPE_CHECKING:
    from evidence.runtime import Runtime

__all__ = ["models", "notices"]

SETTING = {"face_detector": "EVIDENCE_FACE_DETECTOR", "face_aligner": "EVIDENCE_FACE_ALIGNER",
           "face_embedder": "EVIDENCE_FACE_EMBEDDER", "plate_localiser": "EVIDENCE_PLATE_LOCALISER",
           "plate_recogniser": "EVIDENCE_PLATE_RECOGNISER"}


def _view(role: str, e: ModelEntry, active: bool) -> dict[str, Any]:
    return {"role": role, "name": e.name, "active": active, "version": e.version, "sha256": e.sha256,
            "file": e.file, "package": e.package, "source": e.source, "licence": e.licence, "caveats": e.caveats,
            **({"dimension": e.dimension, "metric": e.metric} if e.role == "face_embedder" else {})}


@click.group(invoke_without_command=True)
@click.option("--all", "show_all", is_flag=True, help="every model of the manifests, not only the active ones")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per model")
@click.pass_context
def models(ctx: click.Context, show_all: bool, as_json: bool) -> None:
    """The model playing each role (face detector, aligner, embedder, plate localiser, plate
    recogniser): its name (the setting that chooses it), version, SHA-256 and licence. A model's
    file is checked against its SHA-256 when first used; a name no manifest holds is an error here."""
    if ctx.invoked_subcommand is not None:
        return
    rt = runtime(ctx)
    chosen = {role: getattr(rt.settings, role) for role in ROLES}
    failed = False
    rows: list[dict[str, Any]] = []
    for role in ROLES:
        try:
            active = rt.models.choose(role, chosen[role])
        except EvidenceError as exc:
            click.echo(f"error: {SETTING[role]}: {exc.message}", err=True)
            failed = True
            continue
        others = [e for e in rt.models.for_role(role) if e.adapter and e.name != active.name] if show_all else []
        rows += [_view(role, active, True)] + [_view(role, e, False) for e in others]
        ran = rt.faces.embedder_runs_in if role == "face_embedder" else None
        if ran is not None:  # where the embedder built from these settings runs its weights
            runs_in, onnx = ran
            rows[-1 - len(others)]["runtime"] = {"runtime": runs_in, **(
                {"name": onnx.name, "sha256": onnx.sha256, "file": onnx.file} if onnx is not None else {})}
    if as_json:
        for row in rows:
            click.echo(json.dumps(row))
    else:
        for row in rows:
            mark = f"{row['role']:<17}" if row["active"] else f"{'  (selectable)':<17}"
            click.echo(f"{mark} {row['name']:<26} sha256 {(row['sha256'] or 'built-in')[:16]:<16}  {row['version']}")
            click.echo(f"{'':<18}licence: {row['licence']}")
            if "runtime" in row:
                ran = row["runtime"]
                click.echo(f"{'':<18}runs in: " + (f"onnxruntime ({ran['name']}, sha256 {ran['sha256'][:16]})"
                                                   if ran["runtime"] == "onnx" else ran["runtime"])
                           + " (EVIDENCE_FACE_EMBEDDER_RUNTIME)")
            if row["caveats"] and row["active"]:
                click.echo(f"{'':<18}caveats: {row['caveats']}")
        _stale_note(rt)
    if failed:
        raise SystemExit(2)


def _stale_note(rt: Runtime) -> None:
    """A line when stored face vectors were made by another embedder (they are not compared)."""
    from evidence.reembed import stale

    try:
        todo = stale(rt)
    except Exception:  # no database here (a fresh machine, a model-only check): nothing stored to say about
        return
    if not todo.none:
        click.echo(f"stored: {todo.references} watchlist reference(s) and {todo.tracks} face track(s) were made by "
                   f"another embedder than {todo.embedder}; matching refuses until `evidence models reembed`")


@models.command("reembed")
@click.option("--reason", required=True, help="why (audited), e.g. the change request that replaced the embedder")
@pass_runtime
@clean_errors
def reembed_cmd(rt: Runtime, reason: str) -> None:
    """Re-make every stored face vector another embedder made, with EVIDENCE_FACE_EMBEDDER's:
    watchlist references from their photos, the tracks a person's decision keeps from their crops,
    and every other affected evidence analysed again (on the workers when EVIDENCE_REDIS_URL is
    set, else here). Audited; stopped half-way, run it again to go on. An administrator only."""
    from evidence.reembed import reembed, stale

    actor = cli_actor(rt, Role.ADMIN)
    queue = None
    if rt.settings.redis_url:
        from workers.queue import RQWorkQueue

        queue = RQWorkQueue(rt)
    todo = stale(rt)
    if todo.none:
        click.echo(f"nothing to do: every stored face vector was made by {todo.embedder}")
        return
    click.echo(f"re-making with {todo.embedder}: {todo.references} reference(s) of {len(todo.subjects)} subject(s), "
               f"{todo.tracks} track(s) of {len(todo.evidence)} evidence item(s)")
    report = reembed(rt, actor, reason, queue, progress=lambda line: click.echo(f"  {line}"))
    click.echo(f"references re-made: {report.references} ({report.subjects} subject(s)); tracks from crops: "
               f"{report.tracks_from_crops}; evidence analysed again: {len(report.evidence_reanalysed)}"
               + (f"; queued for the workers: {len(report.evidence_queued)} (run this again when they are done "
                  "to re-make what a failed run leaves)" if report.evidence_queued else ""))
    for problem in report.problems:
        click.echo(f"warning: {problem}", err=True)
    if report.problems:
        raise SystemExit(2)


@click.command("notices")
@click.option("--write", is_flag=True, help="write THIRD_PARTY_NOTICES.md beside the code instead of printing it")
def notices(write: bool) -> None:
    """Every model file, package and front-end asset the project ships or installs, with its
    licence and source (Markdown), made from the manifest, the installed packages' metadata and the
    npm lock."""
    from evidence.notices import NOTICES_FILE, third_party_notices

    text = third_party_notices()
    if write:
        NOTICES_FILE.write_text(text)
        click.echo(f"wrote {NOTICES_FILE}")
    else:
        click.echo(text, nl=False)
