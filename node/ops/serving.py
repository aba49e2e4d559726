"""Serving the node: the exchange over mutual TLS and its periodic jobs, until told to stop.

Start-up order matters. Sessions a stopped node or a killed ``match`` left running are closed first (which
also creates and migrates the database). Standard error is teed for the handshake audit before gRPC starts
its threads. Each session blinds on ``workers`` threads of this process (no worker processes, so none can
hold the tee's pipe open at stop). Stopping runs the other way: the scheduler starts no new round and gives
running ones ``grace`` seconds, the notifier and the periodic jobs end, sessions get ``grace`` seconds, the
tee gives fd 2 back.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from matcher.psi import Blinder
from node.config.settings import parse_address
from node.core.workers import threaded_blinder
from node.net.handshakes import FLUSH_SECONDS, HandshakeAudit
from node.net.server import create_server
from node.net.tls import ConfigWatch
from node.ops.background import Background
from node.ops.context import Operations
from node.ops.matching import close_interrupted_initiators
from node.ops.notify import Notifier
from node.ops.periodic import Periodic
from node.ops.schedule import Scheduler
from node.store import audit as audit
from node.store import unit_of_work
from node.store.retention import purge
from node.store.sessions import mark_interrupted

__all__ = [
    "RETENTION_INTERVAL_S", "SERVING_ACTOR", "Companion", "close_interrupted_sessions", "purge_once", "serve",
]  # fmt: skip

log = logging.getLogger("casebridge.server")

RETENTION_INTERVAL_S = 24 * 3600
# The actor of what a serving node does by itself (the daily purge, failed periodic jobs).
SERVING_ACTOR = "node"


class Companion(Protocol):
    """Something served next to the exchange on the same loop (the analyst console)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


async def serve(
    ops: Operations,
    listen: str | None,
    grace: float,
    workers: int,
    until: Callable[[], Awaitable[None]],
    companions: Sequence[Companion] = (),
) -> None:
    """Serve until ``until()`` returns, then stop gracefully; ``companions`` start after the exchange
    listens and stop before it does."""
    ops = dataclasses.replace(ops, actor=SERVING_ACTOR)
    watch = ConfigWatch(ops.home)
    config = watch.get()
    close_interrupted_sessions(ops)
    address = parse_address(listen) if listen else None
    blinder = threaded_blinder(workers)
    handshakes = HandshakeAudit(ops.home)
    handshakes.start()
    try:
        running = await create_server(watch, address, blinder)
        host = (address or config.listen).host
        log.info("%s serving on %s port %d (federation %s)", config.agency, host, running.port, config.federation)
        background = _background(ops, watch, handshakes, blinder, grace)
        for job in background:
            job.start()
        started: list[Companion] = []
        try:
            for companion in companions:
                await companion.start()
                started.append(companion)
            await until()
        finally:
            for companion in reversed(started):
                await companion.stop()
            for job in background:
                await job.stop()
            log.info("stopping: letting running sessions finish for up to %.0f s", grace)
            await running.stop(grace)
            log.info("stopped")
    finally:
        handshakes.stop()


def _background(
    ops: Operations, watch: ConfigWatch, handshakes: HandshakeAudit, blinder: Blinder, grace: float
) -> list[Background]:
    """What runs beside the exchange, in the order it stops: the scheduler first (no round starts once
    stopping begins), then the notifier and the periodic jobs."""
    return [
        Scheduler(ops, watch, blinder, grace),
        Notifier(ops, watch),
        Periodic(ops, "retention", functools.partial(purge_once, ops, watch), RETENTION_INTERVAL_S),
        Periodic(ops, "handshake-audit", handshakes.flush, FLUSH_SECONDS),
    ]


def close_interrupted_sessions(ops: Operations) -> None:
    """Responder sessions the last run of the node left running, and initiator sessions of ``match``
    processes that are gone, become failed (interrupted), each audited."""
    with unit_of_work(ops.home) as db:
        at = ops.now_iso()
        for session_id in mark_interrupted(db, at, role="responder"):
            audit.append(db, "session.interrupted", at=at, subject=f"session:{session_id}", role="responder")
            log.warning("session %s was interrupted when the node last stopped", session_id[:8])
    close_interrupted_initiators(ops)


def purge_once(ops: Operations, watch: ConfigWatch) -> None:
    """Apply the retention period (``serve`` runs this at start and then once a day)."""
    with unit_of_work(ops.home) as db:
        summary = purge(db, watch.get().retention_days, ops.clock.now(), actor=ops.actor)
    if summary.alerts or summary.denied_requests or summary.releases:
        log.info(
            "retention: purged %d alert(s), %d denied request(s), %d release(s)",
            summary.alerts,
            summary.denied_requests,
            summary.releases,
        )
