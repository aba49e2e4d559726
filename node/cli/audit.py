"""``casebridge audit``: check and read the hash-chained audit log."""

from __future__ import annotations

import sys

import click
from rich.table import Table

from node.cli.app import CliContext, emit_json, main, print_table
from node.ops import audit as ops_audit

__all__ = ["audit"]


@main.group()
def audit() -> None:
    """The audit log: every session, refusal, alert change and disclosure step.

    \b
    Example:
      casebridge audit verify
    """


@audit.command("verify")
@click.pass_obj
def audit_verify(obj: CliContext) -> None:
    """Recompute the hash chain; name every changed, deleted or reordered entry (exit 1 if any).

    \b
    Example:
      casebridge audit verify
    """
    result = ops_audit.verify(obj.ops())
    if not result.intact:
        for problem in result.problems:
            click.echo(f"audit log broken: {problem}", err=True)
        sys.exit(1)
    click.echo(f"audit log intact: {result.entries} entries")


@audit.command("list")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Only the newest N entries.")
@click.option("--event", default=None, help="Only entries of this event, e.g. session.misbehaved.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@click.pass_obj
def audit_list(obj: CliContext, limit: int | None, event: str | None, as_json: bool) -> None:
    """List audit entries, oldest first.

    \b
    Example:
      casebridge audit list --limit 20
      casebridge audit list --event session.misbehaved
    """
    entries = ops_audit.list_entries(obj.ops(), limit, event)
    if as_json:
        emit_json([e.as_json() for e in entries])
        return
    table = Table(title="audit log")
    for column in ("seq", "at", "event", "peer", "subject", "detail"):
        table.add_column(column)
    for e in entries:
        detail = ", ".join(f"{k}={v}" for k, v in sorted(e.detail.items()) if v is not None)
        table.add_row(str(e.seq), e.at, e.event, e.peer or "", e.subject or "", detail)
    print_table(table)
