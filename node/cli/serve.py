"""``casebridge serve``: run the node in the foreground until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal

import click

from node.cli.app import CliContext, main
from node.config.settings import parse_address
from node.core.logs import configure_logging
from node.ops import serving
from node.ops.serving import Companion
from node.web import ConsoleServer

__all__ = ["serve"]


async def _until_signalled() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


@main.command()
@click.option("--listen", default=None, help="HOST:PORT to listen on instead of the configured address.")
@click.option(
    "--grace",
    type=click.FloatRange(min=0),
    default=10.0,
    show_default=True,
    help="Seconds running sessions get to finish on shutdown.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Threads that share each session's blinding (one core each); give a dedicated host's core count.",
)
@click.option(
    "--web",
    default=None,
    metavar="HOST:PORT",
    help="Also serve the analyst console here (instead of [web] listen); plain HTTP on loopback only.",
)
@click.option("-v", "--verbose", is_flag=True, help="Log debug detail (never identifiers).")
@click.pass_obj
def serve(obj: CliContext, listen: str | None, grace: float, workers: int, web: str | None, verbose: bool) -> None:
    """Serve the node's exchange over mutual TLS, in the foreground.

    Only configured peers presenting their pinned certificate get in; each session obeys the peer's policy.
    SIGTERM or SIGINT stops gracefully. Changes made with `peers add/remove` apply without a restart.
    With `--web` (or `[web] listen` in the config) the analyst console is served too: over HTTPS on any
    address but loopback; add its users with `casebridge users add`.

    \b
    Example:
      casebridge --home /srv/casebridge serve --web 127.0.0.1:8443
    """
    configure_logging(logging.DEBUG if verbose else logging.INFO)
    ops = obj.ops()
    config = ops.config()
    address = parse_address(web) if web else config.web.listen
    companions: list[Companion] = [ConsoleServer(ops.home, config, address)] if address else []
    asyncio.run(serving.serve(ops, listen, grace, workers, _until_signalled, companions))
