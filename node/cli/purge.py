"""``casebridge purge``: apply the retention period now."""

from __future__ import annotations

import click

from node.cli.app import CliContext, emit_json, main
from node.ops.purge import purge as purge_now

__all__ = ["purge"]


@main.command()
@click.option("--dry-run", is_flag=True, help="Only count what would be purged.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
@click.pass_obj
def purge(obj: CliContext, dry_run: bool, as_json: bool) -> None:
    """Delete closed alerts, denied requests and releases older than retention_days (config).

    A serving node does this by itself once a day; the audit log keeps a record of every purge.

    \b
    Example:
      casebridge purge --dry-run
    """
    result = purge_now(obj.ops(), dry_run=dry_run)
    summary = result.summary
    if as_json:
        emit_json({**summary.as_json(), "dry_run": dry_run, "retention_days": result.retention_days})
        return
    verb = "would purge" if dry_run else "purged"
    click.echo(
        f"{verb} {summary.alerts} closed alert(s), {summary.denied_requests} denied request(s) and "
        f"{summary.releases} release(s) last changed before {summary.cutoff}"
    )
