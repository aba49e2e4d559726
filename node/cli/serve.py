"""``casebridge serve``: run the node in the foreground until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal

import click

from node.cli.app import CliContext, main
from node.config.settings import parse_address
from node.core.clock import now, now_iso
from node.core.errors import EXPECTED_ERRORS
from node.core.home import NodeHome
from node.core.logs import configure_logging
from node.core.workers import ParallelCrypto
from node.net.handshakes import HandshakeAudit
from node.net.server import create_server
from node.net.tls import ConfigWatch
from node.store import audit as audit
from node.store import open_database, transaction
from node.store.retention import PurgeSummary, purge
from node.store.sessions import mark_interrupted

__all__ = ["serve"]

log = logging.getLogger("casebridge.server")

RETENTION_INTERVAL_S = 24 * 3600


async def _serve(home: NodeHome, listen: str | None, grace: float, workers: int) -> None:
    watch = ConfigWatch(home)
    config = watch.get()
    _close_interrupted_sessions(home)  # also creates and migrates the database before the first call
    handshakes = HandshakeAudit(home)
    handshakes.start()
    parallel = ParallelCrypto(workers, "forkserver")
    try:
        parallel.warm_up()  # fork the workers before gRPC starts its threads
        blinder = parallel.blinder()
        running = await create_server(watch, parse_address(listen) if listen else None, blinder)
        host = (parse_address(listen) if listen else config.listen).host
        log.info("%s serving on %s port %d (federation %s)", config.agency, host, running.port, config.federation)
        retention = asyncio.ensure_future(_retention_loop(home, watch))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        retention.cancel()
        log.info("stopping: letting running sessions finish for up to %.0f s", grace)
        await running.stop(grace)
        log.info("stopped")
    finally:
        parallel.close()
        handshakes.stop()


def _close_interrupted_sessions(home: NodeHome) -> None:
    db = open_database(home)
    with transaction(db):
        at = now_iso()
        for session_id in mark_interrupted(db, at):
            audit.append(db, "session.interrupted", at=at, subject=f"session:{session_id}")
            log.warning("session %s was interrupted when the node last stopped", session_id[:8])


def _purge_once(home: NodeHome, retention_days: int) -> PurgeSummary:
    db = open_database(home)
    with transaction(db):
        return purge(db, retention_days, now())


async def _retention_loop(home: NodeHome, watch: ConfigWatch) -> None:
    """Apply the retention period at start and then once a day."""
    while True:
        try:
            summary = await asyncio.to_thread(_purge_once, home, watch.get().retention_days)
            if summary.alerts or summary.denied_requests or summary.releases:
                log.info(
                    "retention: purged %d alert(s), %d denied request(s), %d release(s)",
                    summary.alerts,
                    summary.denied_requests,
                    summary.releases,
                )
        except EXPECTED_ERRORS as exc:
            log.warning("retention purge failed: %s", exc)
        await asyncio.sleep(RETENTION_INTERVAL_S)


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
