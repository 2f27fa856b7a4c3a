"""``evidence users``: the people who sign in to the pages (machines have API keys)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from cli.common import cli_actor, clean_errors, first_admin_or_actor, pass_runtime
from evidence.states import Role

if TYPE_CHECKING:
    from evidence.runtime import Runtime

__all__ = ["users"]

PEOPLE_ROLES = [str(r) for r in (Role.CONTROL_ROOM, Role.INVESTIGATOR, Role.ADMIN, Role.AUTHORITY)]


@click.group()
def users() -> None:
    """People who sign in to the pages, by name, with a role."""


@users.command("add")
@click.option("--name", required=True, help='as colleagues know them, e.g. "PC 1234 Smith" (names are unique)')
@click.option("--role", required=True, type=click.Choice(PEOPLE_ROLES))
@pass_runtime
@clean_errors
def users_add(rt: Runtime, name: str, role: str) -> None:
    """Add a person. Their one-time password is the last word of the output: give it to them; they
    choose their own at first sign-in. Only its argon2id hash is kept."""
    from evidence.users import add_user

    user, password = add_user(rt, name, role, first_admin_or_actor(rt, role))
    click.echo(f"user {user.id} {user.name} ({role}) can sign in once with the one-time password: {password}")


@users.command("list")
@pass_runtime
@clean_errors
def users_list(rt: Runtime) -> None:
    """People by name: id, role, last sign-in, active or disabled."""
    from evidence.users import list_users

    for u in list_users(rt):
        last = u.last_signin_at.strftime("%Y-%m-%dT%H:%M:%SZ") if u.last_signin_at else "never"
        click.echo(f"{u.id:>4}  {u.name:<32} {u.role:<13} last sign-in {last:<20}  "
                   f"{'disabled' if u.disabled_at else 'active'}")


@users.command("disable")
@click.argument("user_id", type=int)
@pass_runtime
@clean_errors
def users_disable(rt: Runtime, user_id: int) -> None:
    """Stop a person signing in; their open sessions end at once (the account stays for the audit trail)."""
    from evidence.users import disable_user

    disable_user(rt, user_id, cli_actor(rt, Role.ADMIN))
    click.echo(f"user {user_id} disabled")


@users.command("role")
@click.argument("user_id", type=int)
@click.argument("role", type=click.Choice([r.value for r in Role]))
@pass_runtime
@clean_errors
def users_role(rt: Runtime, user_id: int, role: str) -> None:
    """Give a person another role (from their next request on; audited)."""
    from evidence.users import change_role

    name = change_role(rt, user_id, role, cli_actor(rt, Role.ADMIN))
    click.echo(f"{name} is now {role}")


@users.command("reset")
@click.argument("user_id", type=int)
@pass_runtime
@clean_errors
def users_reset(rt: Runtime, user_id: int) -> None:
    """A new one-time password for a person who forgot theirs (printed last); their sessions end."""
    from evidence.users import reset_password

    name, password = reset_password(rt, user_id, cli_actor(rt, Role.ADMIN))
    click.echo(f"{name} signs in next with this one-time password: {password}")
