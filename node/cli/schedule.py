"""``casebridge schedule``: the matching rounds a serving node runs by itself."""

from __future__ import annotations

import click
from rich.table import Table

from node.cli.app import CliContext, emit_json, main, print_table
from node.ops import schedule as ops_schedule

__all__ = ["schedule"]


@main.group()
def schedule() -> None:
    """Rounds a serving node runs with every peer by itself ([schedule] in the config).

    \b
    Example:
      casebridge schedule status
    """


@schedule.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@click.pass_obj
def schedule_status(obj: CliContext, as_json: bool) -> None:
    """Per peer: the last session (either role, scheduled or typed), the last scheduled round, and when
    the next one is due and why. Times are UTC.

    \b
    Example:
      casebridge schedule status --json
    """
    found = ops_schedule.status(obj.ops())
    if as_json:
        emit_json(found.as_json())
        return
    if not found.enabled:
        click.echo("scheduling is off ([schedule] enabled = false): rounds run only with 'casebridge match'")
    elif not found.running:
        click.echo("no serving node is scheduling rounds now: start 'casebridge serve'")
    else:
        click.echo(f"rounds with every peer {found.after_import} s after a case change and every {found.interval} s")
    if not found.peers:
        click.echo("no peers; add one with 'casebridge peers add'")
        return
    table = Table()
    for column in ("peer", "last session", "outcome", "last round", "failures", "next round", "why", "epoch"):
        table.add_column(column)
    for p in found.peers:
        last = "never" if p.last_session_at is None else f"{p.last_session_at} ({p.last_session_kind}, "
        last += "" if p.last_session_at is None else f"{p.last_session_role})"
        outcome = p.last_session_status or ""
        if p.last_session_reason and p.last_session_status != "completed":
            outcome += f": {p.last_session_reason}"
        round_ = (
            "none" if p.last_round_at is None else f"{p.last_round_at} {p.last_round_outcome} ({p.last_round_cause})"
        )
        next_round = f"{p.next_at} ({p.kind})" if p.next_at else "-"
        epoch = "none" if p.epoch is None else f"{p.epoch.id} until {p.epoch.ends_at}, {p.epoch.rounds} round(s)"
        table.add_row(p.peer, last, outcome, round_, str(p.failures), next_round, p.next_cause or "", epoch)
    print_table(table)
