"""Matching with peers: the use case behind ``casebridge match`` and anything that schedules sessions."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from matcher.psi import Mode, PsiSession
from node.config.settings import NodeConfig, Peer
from node.core.errors import LocalError
from node.core.workers import threaded_blinder
from node.matching.runner import PeerOutcome
from node.net.client import match_peer
from node.ops.context import Operations
from node.store import audit as audit
from node.store import unit_of_work
from node.store.sessions import close_orphaned_initiators

__all__ = ["PeerOutcome", "close_interrupted_initiators", "match_peers", "select_peers"]

log = logging.getLogger("casebridge.match")

Progress = Callable[[PsiSession], None]


def close_interrupted_initiators(ops: Operations) -> list[str]:
    """Sessions a killed ``match`` left running become failed (interrupted), each audited; returns their ids."""
    with unit_of_work(ops.home) as db:
        at = ops.now_iso()
        closed = close_orphaned_initiators(db, at)
        for session_id in closed:
            audit.append(db, "session.interrupted", at=at, subject=f"session:{session_id}", role="initiator")
    for session_id in closed:
        log.warning("session %s was interrupted when its matching process stopped", session_id[:8])
    return closed


def select_peers(config: NodeConfig, codes: Sequence[str]) -> list[Peer]:
    """The configured peers named by ``codes`` (every configured peer when none is named)."""
    known = {peer.code: peer for peer in config.peers}
    unknown = [c for c in codes if c not in known]
    if unknown:
        raise LocalError(f"not a configured peer: {', '.join(unknown)}; see 'casebridge peers list'")
    chosen = [known[c] for c in codes] if codes else list(config.peers)
    if not chosen:
        raise LocalError("no peers configured; add one with 'casebridge peers add'")
    return chosen


async def match_peers(
    ops: Operations,
    codes: Sequence[str],
    mode: Mode,
    workers: int = 1,
    starting: Callable[[Peer], Progress | None] | None = None,
    finished: Callable[[PeerOutcome], None] | None = None,
) -> list[PeerOutcome]:
    """A session with each chosen peer in turn, blinding over ``workers`` threads."""
    config = ops.config()
    chosen = select_peers(config, codes)
    # Once, up front: a store that cannot be written now (locked, read-only) stops here with one line,
    # before any peer is called.
    await asyncio.to_thread(close_interrupted_initiators, ops)
    outcomes: list[PeerOutcome] = []
    blinder = threaded_blinder(workers)
    for peer in chosen:
        progress = None if starting is None else starting(peer)
        outcome = await match_peer(ops.home, config, peer, mode, progress, blinder=blinder)
        if finished is not None:
            finished(outcome)
        outcomes.append(outcome)
    return outcomes
