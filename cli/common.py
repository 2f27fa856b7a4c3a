"""What every ``evidence`` command shares: who the command line acts as, one-line errors, times.

A command that changes something, or reads what is audited, acts as a named person proven by a
credential, never as the machine's login: ``EVIDENCE_KEY`` (an API key, named after its holder)
or ``EVIDENCE_USER`` with ``EVIDENCE_PASSWORD`` (a person's account; the password is asked for
when it is not set and a terminal is there). Without one, or with a role that may not do it, the
command is refused before it does anything. Only on a database with no active administrator (a new
one, or one upgraded from before this rule) may ``evidence users add --role admin`` / ``evidence
keys create --role admin`` make the first administrator without one."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from functools import update_wrapper, wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

import click

from evidence.errors import Forbidden, Unauthorized
from evidence.states import Role
from pipeline.errors import EvidenceError

if TYPE_CHECKING:
    from evidence.audit import Actor
    from evidence.runtime import Runtime

# Only light modules above: `evidence --help` and every command's --help stay quick. The database,
# the models and the rest are imported by the commands that use them, when they run.

__all__ = ["ROOT", "UTC_TIME", "cli_actor", "clean_errors", "demo_actors", "first_admin_or_actor", "pass_runtime",
           "runtime"]

ROOT = Path(__file__).resolve().parent.parent  # the repository: samples/ for the demo

F = TypeVar("F", bound=Callable[..., Any])
P = ParamSpec("P")
R = TypeVar("R")


def runtime(ctx: click.Context) -> Runtime:
    """The command line's Runtime: the one given to ``main`` (``obj=``, as tests do), else built
    from the EVIDENCE_* settings when a command first needs it (never for --help)."""
    root = ctx.find_root()
    if root.obj is None:
        from evidence.runtime import Runtime
        from evidence.settings import Settings

        root.obj = Runtime(Settings())
    rt: Runtime = root.obj
    return rt


def pass_runtime(fn: Callable[Concatenate[Runtime, P], R]) -> Callable[P, R]:
    """``click.pass_obj`` for the Runtime: the command gets it as its first argument."""

    def new_fn(*args: P.args, **kwargs: P.kwargs) -> R:
        return fn(runtime(click.get_current_context()), *args, **kwargs)

    return update_wrapper(new_fn, fn)


class UtcTime(click.ParamType[datetime]):
    """An ISO 8601 date or time, converted to UTC; one without an offset is taken as UTC."""

    name = "TIME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            at = datetime.fromisoformat(str(value))
        except ValueError:
            self.fail(f"{value!r} is not a date or time (2026-12-01, 2026-12-01T05:02:49Z, …+01:00)", param, ctx)
        if at.tzinfo is None:
            return at.replace(tzinfo=UTC)
        from evidence.utc import as_utc  # with pydantic: imported when a time is given, not for --help

        try:
            return as_utc(at)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


UTC_TIME = UtcTime()


NO_CREDENTIAL = ("this command acts as a named person: set EVIDENCE_KEY to your API key, or EVIDENCE_USER to your "
                 "name (and EVIDENCE_PASSWORD, or type it when asked); an administrator gives you one "
                 "(`evidence keys create` / `evidence users add`)")


def _console() -> Actor:
    """Who makes the first administrator."""
    from evidence.audit import Actor

    return Actor("console: first administrator", Role.ADMIN)


def _credential() -> tuple[str, str]:
    """(EVIDENCE_KEY, EVIDENCE_USER) from the environment, blank when unset."""
    return os.environ.get("EVIDENCE_KEY", "").strip(), " ".join(os.environ.get("EVIDENCE_USER", "").split())


def cli_actor(rt: Runtime, *roles: Role) -> Actor:
    """The person holding the credential in the environment; Unauthorized without a valid one,
    Forbidden when their role is not among ``roles`` (when given)."""
    from evidence.keys import authenticate
    from evidence.users import check_password

    key, user = _credential()
    if key:
        with rt.sessions() as s:
            actor = authenticate(s, key)
    elif user:
        password = os.environ.get("EVIDENCE_PASSWORD", "")
        if not password and sys.stdin.isatty():
            password = click.prompt(f"password for {user}", hide_input=True, err=True)
        actor = check_password(rt, user, password, "command line")
    else:
        raise Unauthorized(NO_CREDENTIAL)
    if roles and actor.role not in roles:
        raise Forbidden(f"{actor.name} has the role {actor.role}; this command needs {' or '.join(roles)}")
    return actor


def first_admin_or_actor(rt: Runtime, role: str) -> Actor:
    """An administrator's credential; or, on a database with no active administrator and no
    credential given, the console setting up the first administrator (``role`` must then be admin)."""
    from evidence.users import no_admin_yet

    if not any(_credential()):
        with rt.sessions() as s:
            first = no_admin_yet(s)
        if first:
            if role != Role.ADMIN:
                raise Forbidden("there is no administrator yet: the first person or key made without a credential "
                                "must be one (--role admin)")
            return _console()
    return cli_actor(rt, Role.ADMIN)


def clean_errors(fn: F) -> F:
    """One line on stderr and exit status 2 for every expected error."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except EvidenceError as exc:
            click.echo(f"error: {exc.message}", err=True)
            sys.exit(2)

    return wrapper  # type: ignore[return-value]


def demo_actors(rt: Runtime) -> tuple[Actor, Actor]:
    """(administrator, investigator) for ``evidence demo``: the credential given; or on a database
    with no administrator yet, two demo keys it makes and keeps in DATA_DIR/demo-keys.json (owner-only) for
    its next run."""
    from evidence.keys import authenticate, create_key
    from evidence.users import no_admin_yet

    if any(_credential()):
        actor = cli_actor(rt, Role.ADMIN)
        return actor, actor
    path = rt.settings.data_dir / "demo-keys.json"
    if not path.is_file():
        with rt.sessions() as s:
            if not no_admin_yet(s):
                raise Unauthorized(NO_CREDENTIAL)
        console = _console()
        made = {role: create_key(rt, name, role, console)[1]
                for name, role in (("Demo Administrator", Role.ADMIN), ("Demo Investigator", Role.INVESTIGATOR))}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(json.dumps(made))
    keys = json.loads(path.read_text())
    with rt.sessions() as s:
        return authenticate(s, keys[Role.ADMIN]), authenticate(s, keys[Role.INVESTIGATOR])
