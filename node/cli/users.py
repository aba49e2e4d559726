"""``casebridge users``: who may log in to the analyst console, with which role."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from node.cli.app import CliContext, emit_json, fail, main
from node.ops import users as ops_users

__all__ = ["users"]


@main.group()
def users() -> None:
    """Console users: analysts, approvers and admins (served with `serve --web`).

    Analysts review alerts and prepare requests and releases; approvers also approve what another user
    prepared (four eyes) and deny requests; admins manage users and decide nothing.

    \b
    Example:
      casebridge users add maria --role approver
    """


_PASSWORD_FILE = click.option(
    "--password-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Read the password from the first line of FILE instead of a prompt.",
)


def _password(password_file: Path | None) -> str:
    if password_file is not None:
        try:
            text = password_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"{password_file}: cannot read the password ({getattr(exc, 'strerror', None) or type(exc).__name__})")
        lines = text.splitlines()
        if not lines or not lines[0]:
            fail(f"{password_file}: line 1: expected the password on the first line")
        return lines[0]
    value: str = click.prompt("New password", hide_input=True, confirmation_prompt=True, err=True)
    return value


@users.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(ops_users.ROLES), required=True, help="What the user may do.")
@_PASSWORD_FILE
@click.pass_obj
def users_add(obj: CliContext, name: str, role: str, password_file: Path | None) -> None:
    """Add a console user (the password is asked for twice, or read from a file).

    \b
    Example:
      casebridge users add jan --role analyst --password-file /run/secrets/jan
    """
    user = ops_users.add(obj.ops(), name, role, _password(password_file))
    click.echo(f"added {user.name} ({user.role})")


@users.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@click.pass_obj
def users_list(obj: CliContext, as_json: bool) -> None:
    """List console users and their roles (never their password hashes).

    \b
    Example:
      casebridge users list --json
    """
    found = ops_users.list_all(obj.ops())
    if as_json:
        emit_json([u.as_json() for u in found])
        return
    if not found:
        click.echo("no console users; add one with 'casebridge users add NAME --role analyst'")
        return
    table = Table()
    for column in ("name", "role", "since"):
        table.add_column(column)
    for u in found:
        table.add_row(u.name, u.role, u.created_at[:10])
    Console().print(table)


@users.command("remove")
@click.argument("name")
@click.pass_obj
def users_remove(obj: CliContext, name: str) -> None:
    """Remove a console user; their open console sessions end at once.

    \b
    Example:
      casebridge users remove jan
    """
    ops_users.remove(obj.ops(), name)
    click.echo(f"removed {name}")


@users.command("passwd")
@click.argument("name")
@_PASSWORD_FILE
@click.pass_obj
def users_passwd(obj: CliContext, name: str, password_file: Path | None) -> None:
    """Set a user's password; their open sessions end and a login throttle on the name is lifted.

    \b
    Example:
      casebridge users passwd jan
    """
    ops_users.passwd(obj.ops(), name, _password(password_file))
    click.echo(f"password changed for {name}")
