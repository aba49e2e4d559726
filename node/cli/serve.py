"""``casebridge serve``: run the node in the foreground until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import functools
import logging
import signal

import click

from node.cli.app import CliContext, main
from node.cli.periodic import Periodic
from node.config.settings import parse_address
from node.core.clock import now, now_iso
from node.core.home import NodeHome
from node.core.logs import configure_logging
from node.core.workers import ParallelCrypto
from node.net.handshakes import FLUSH_SECONDS, HandshakeAudit
from node.net.server import create_server
from node.net.tls import ConfigWatch
from node.store import audit as audit
from node.store import open_database, transaction
from node.store.retention import purge
from node.store.sessions import mark_interrupted

__all__ = ["purge_once", "serve"]

log = logging.getLogger("casebridge.server")

RETENTION_INTERVAL_S = 24 * 3600


async def _serve(home: NodeHome, listen: str | None, grace: float, workers: int) -> None:
    watch = ConfigWatch(home)
    config = watch.get()
    _close_interrupted_sessions(home)  # also creates and migrates the database before the first call
    # The worker pool (and its forkserver) starts before standard error is teed: its processes keep the
    # original fd 2, so what they write is never lost and they never hold the tee's pipe open at stop.
    with ParallelCrypto(workers, "forkserver") as parallel:
        parallel.warm_up()  # also: fork before gRPC starts its threads
        handshakes = HandshakeAudit(home)
        handshakes.start()
        try:
            running = await create_server(watch, parse_address(listen) if listen else None, parallel.blinder())
            host = (parse_address(listen) if listen else config.listen).host
            log.info("%s serving on %s port %d (federation %s)", config.agency, host, running.port, config.federation)
            jobs = [
                Periodic(home, "retention", functools.partial(purge_once, home, watch), RETENTION_INTERVAL_S),
                Periodic(home, "handshake-audit", handshakes.flush, FLUSH_SECONDS),
            ]
            for job in jobs:
                job.start()
            await _until_signalled()
            for job in jobs:
                await job.stop()
            log.info("stopping: letting running sessions finish for up to %.0f s", grace)
            await running.stop(grace)
            log.info("stopped")
        finally:
            handshakes.stop()


async def _until_signalled() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def _close_interrupted_sessions(home: NodeHome) -> None:
    db = open_database(home)
    with transaction(db):
        at = now_iso()
        for session_id in mark_interrupted(db, at):
            audit.append(db, "session.interrupted", at=at, subject=f"session:{session_id}")
            log.warning("session %s was interrupted when the node last stopped", session_id[:8])


def purge_once(home: NodeHome, watch: ConfigWatch) -> None:
    """Apply the retention period (``serve`` runs this at start and then once a day)."""
    db = open_database(home)
    try:
        with transaction(db):
            summary = purge(db, watch.get().retention_days, now())
    finally:
        db.close()
    if summary.alerts or summary.denied_requests or summary.releases:
        log.info(
            "retention: purged %d alert(s), %d denied request(s), %d release(s)",
            summary.alerts,
            summary.denied_requests,
            summary.releases,
        )


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
    help="Processes that share each session's blinding; give a dedicated host's core count.",
)
@click.option("-v", "--verbose", is_flag=True, help="Log debug detail (never identifiers).")
@click.pass_obj
def serve(obj: CliContext, listen: str | None, grace: float, workers: int, verbose: bool) -> None:
    """Serve the node's exchange over mutual TLS, in the foreground.

    Only configured peers presenting their pinned certificate get in; each session obeys the peer's policy.
    SIGTERM or SIGINT stops gracefully. Changes made with `peers add/remove` apply without a restart.

    \b
    Example:
      casebridge --home /srv/casebridge serve
    """
    configure_logging(logging.DEBUG if verbose else logging.INFO)
    asyncio.run(_serve(obj.node(), listen, grace, workers))
