"""``casebridge purge``: apply the retention period now."""

from __future__ import annotations

import click

from node.cli.app import CliContext, emit_json, main
from node.config.settings import load_config
from node.core.clock import now
from node.store import open_database, transaction
from node.store.retention import purge as purge_expired

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
    home = obj.node()
    config = load_config(home)
    db = open_database(home)
    with transaction(db):
        summary = purge_expired(db, config.retention_days, now(), dry_run=dry_run)
    if as_json:
        emit_json({**summary.as_json(), "dry_run": dry_run, "retention_days": config.retention_days})
        return
    verb = "would purge" if dry_run else "purged"
    click.echo(
        f"{verb} {summary.alerts} closed alert(s), {summary.denied_requests} denied request(s) and "
        f"{summary.releases} release(s) last changed before {summary.cutoff}"
    )
