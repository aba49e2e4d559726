"""Running match sessions with peers, for front ends that need no progress display (the demo)."""

from __future__ import annotations

import asyncio

from matcher.psi import Mode
from node.core.errors import LocalError
from node.net.client import PeerOutcome, match_peer
from node.ops.context import Operations

__all__ = ["run_match"]


def run_match(ops: Operations, codes: tuple[str, ...], mode: Mode = Mode.MUTUAL) -> list[PeerOutcome]:
    """One session with each of ``codes``, in order; a failed session is an outcome, not an exception."""
    config = ops.config()
    unknown = [code for code in codes if config.peer(code) is None]
    if unknown:
        raise LocalError(f"not a configured peer: {', '.join(unknown)}; see 'casebridge peers list'")
    peers = [peer for code in codes if (peer := config.peer(code)) is not None]

    async def run() -> list[PeerOutcome]:
        return [await match_peer(ops.home, config, peer, mode) for peer in peers]

    return asyncio.run(run())
