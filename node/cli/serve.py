"""``casebridge serve``: run the node in the foreground until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal

import click

from node.cli.app import CliContext, main
from node.config import parse_address
from node.home import NodeHome
from node.logs import configure_logging
from node.net.server import create_server
from node.net.tls import ConfigWatch
from node.store import open_database

__all__ = ["serve"]

log = logging.getLogger("casebridge.server")


async def _serve(home: NodeHome, listen: str | None, grace: float) -> None:
    watch = ConfigWatch(home)
    config = watch.get()
    open_database(home)  # create and migrate before the first call arrives
    running = await create_server(watch, parse_address(listen) if listen else None)
    host = (parse_address(listen) if listen else config.listen).host
    log.info("%s serving on %s port %d (federation %s)", config.agency, host, running.port, config.federation)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("stopping: letting running sessions finish for up to %.0f s", grace)
    await running.stop(grace)
    log.info("stopped")


@main.command()
@click.option("--listen", default=None, help="HOST:PORT to listen on instead of the configured address.")
@click.option(
    "--grace",
    type=click.FloatRange(min=0),
    default=10.0,
    show_default=True,
    help="Seconds running sessions get to finish on shutdown.",
)
@click.option("-v", "--verbose", is_flag=True, help="Log debug detail (never identifiers).")
@click.pass_obj
def serve(obj: CliContext, listen: str | None, grace: float, verbose: bool) -> None:
    """Serve the node's exchange over mutual TLS, in the foreground.

    Only configured peers presenting their pinned certificate get in; each session obeys the peer's policy.
    SIGTERM or SIGINT stops gracefully. Changes made with `peers add/remove` apply without a restart.

    \b
    Example:
      casebridge --home /srv/casebridge serve
    """
    configure_logging(logging.DEBUG if verbose else logging.INFO)
    asyncio.run(_serve(NodeHome(obj.home), listen, grace))
