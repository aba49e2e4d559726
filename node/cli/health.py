"""``casebridge health``: ask a running node's gRPC health service whether it is serving (see node.ops.health)."""

from __future__ import annotations

import click

from node.cli.app import CliContext, emit_json, fail, main
from node.ops import health as ops_health

__all__ = ["health"]


@main.command()
@click.option(
    "--address",
    default=None,
    help="HOST:PORT where this home's own node listens, if not the configured address (a wildcard host means "
    "loopback). Other agencies' nodes cannot be probed: the check trusts only this node's certificate.",
)
@click.option(
    "--wait",
    type=click.FloatRange(min=0),
    default=0.0,
    help="Keep asking for up to this many seconds until the node reports SERVING.",
)
@click.option(
    "--service",
    default="",
    help="Health service name to ask about; '' (default) is the node as a whole, or casebridge.v1.Exchange.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
def health(obj: CliContext, address: str | None, wait: float, service: str, as_json: bool) -> None:
    """Ask the node's gRPC health service whether it is serving; exit 0 only if SERVING.

    Uses this home's own key and certificate over mutual TLS, so it runs on the node's host with
    read access to the home (the service user, or root). Prints SERVING, NOT_SERVING (for example while
    shutting down) or UNREACHABLE with the reason, and a warning naming each peer whose sessions ended as
    peer-misbehaved in the last 24 hours.

    \b
    Example:
      casebridge --home /srv/casebridge health --wait 30
      casebridge health --address 127.0.0.1:7443 --json
    """
    report = ops_health.probe(obj.ops_unchecked(), address, wait, service)
    if as_json:
        emit_json(report.as_json())
    else:
        click.echo(report.status)
        warning = report.misbehaviour_warning()
        if warning is not None:
            click.echo(f"warning: {warning}", err=True)
    if not report.serving:
        waited = f" after {wait:g} s" if wait else ""
        hint = ""
        if address and "CERTIFICATE_VERIFY_FAILED" in (report.detail or ""):
            hint = f" (the node answering at {report.address} is not this home's node: --address must be its own)"
        fail(f"{report.agency} at {report.address} is not serving{waited}: {report.detail or report.status}{hint}")
