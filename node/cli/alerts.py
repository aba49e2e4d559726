"""``casebridge alerts``: review what matching found."""

from __future__ import annotations

import click
from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from node.alerts.book import ALERT_STATUSES, Alert
from node.cli.app import CliContext, emit_json, main, print_table
from node.disclosure import SAFEGUARDING_NOTE
from node.ops import alerts as ops_alerts

__all__ = ["alerts"]


@main.group()
def alerts() -> None:
    """Match alerts: our case X matched agency P on key type K.

    \b
    Example:
      casebridge alerts list --status new
    """


def _show(alert: Alert) -> None:
    console = Console()
    console.print(f"[bold]alert {alert.id}[/bold]  {alert.status}  ({alert.match_state})")
    console.print(f"our case {alert.case_ref} matched {alert.peer}; strongest: {alert.key_type} ({alert.tier})")
    console.print(f"match handle {alert.match_handle}")
    if alert.reason:
        console.print(Text(f"reason: {alert.reason}"))
    if alert.safeguarding:
        console.print(Panel(SAFEGUARDING_NOTE, style="bold red"))
    table = Table()
    for column in ("key type", "tier", "match handle", "current", "first seen", "last seen"):
        table.add_column(column)
    for k in alert.keys:
        table.add_row(k.key_type, k.tier, k.match_handle, "yes" if k.current else "no", k.first_seen, k.last_seen)
    console.print(table)


@alerts.command("list")
@click.option("--status", type=click.Choice(ALERT_STATUSES), default=None, help="Only alerts with this status.")
@click.option("--peer", default=None, help="Only alerts with this peer agency.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@click.pass_obj
def alerts_list(obj: CliContext, status: str | None, peer: str | None, as_json: bool) -> None:
    """List alerts (the peer's case references are never shown here).

    \b
    Example:
      casebridge alerts list --status new --json
    """
    found = ops_alerts.list_all(obj.ops(), status, peer)
    if as_json:
        emit_json([a.as_json() for a in found])
        return
    table = Table(title="alerts")
    for column in ("id", "peer", "our case", "key type", "tier", "status", "match", "created"):
        table.add_column(column)
    for a in found:
        table.add_row(str(a.id), a.peer, a.case_ref, a.key_type, a.tier, a.status, a.match_state, a.created_at)
    print_table(table)


@alerts.command("show")
@click.argument("alert_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
@click.pass_obj
def alerts_show(obj: CliContext, alert_id: int, as_json: bool) -> None:
    """Show one alert with all its matched keys.

    \b
    Example:
      casebridge alerts show 12
    """
    alert = ops_alerts.show(obj.ops(), alert_id)
    if as_json:
        emit_json(alert.as_json())
    else:
        _show(alert)


@alerts.command("confirm")
@click.argument("alert_id", type=int)
@click.pass_obj
def alerts_confirm(obj: CliContext, alert_id: int) -> None:
    """Mark an alert as a real link worth following up.

    \b
    Example:
      casebridge alerts confirm 12
    """
    alert = ops_alerts.confirm(obj.ops(), alert_id)
    click.echo(f"alert {alert.id} confirmed")


@alerts.command("dismiss")
@click.argument("alert_id", type=int)
@click.option("--reason", required=True, help="Why this match is not worth following (kept with the alert).")
@click.pass_obj
def alerts_dismiss(obj: CliContext, alert_id: int, reason: str) -> None:
    """Dismiss an alert, with a reason.

    \b
    Example:
      casebridge alerts dismiss 12 --reason "shared hotel switchboard number"
    """
    alert = ops_alerts.dismiss(obj.ops(), alert_id, reason)
    click.echo(f"alert {alert.id} dismissed")
