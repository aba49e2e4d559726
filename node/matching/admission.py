"""How many sessions peers may hold open with this node at once, in all and per peer.

Counted in the serving process, where the sessions run: a session holds its place from the moment its
caller is identified (before its Open is read) until its call ends, so calls that open and send nothing
count too. Beyond either cap a new call is refused with ``RESOURCE_EXHAUSTED`` and the node keeps serving
the sessions it holds and the other peers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from node.config.settings import SessionLimits
from node.core.errors import QuotaExceeded

__all__ = ["Admission", "TooManySessions"]


class TooManySessions(QuotaExceeded):
    """A cap on concurrent sessions is reached."""


class Admission:
    """The sessions open now, per peer. Used from one event loop, so no lock is needed."""

    def __init__(self) -> None:
        self._open: Counter[str] = Counter()

    @property
    def total(self) -> int:
        return sum(self._open.values())

    def open_for(self, peer: str) -> int:
        return self._open[peer]

    @contextmanager
    def session(self, peer: str, limits: SessionLimits) -> Iterator[None]:
        """Hold a place for one session of ``peer`` while the block runs; TooManySessions when none is free."""
        if self._open[peer] >= limits.max_concurrent_per_peer:
            raise TooManySessions(
                f"{peer} already holds {self._open[peer]} sessions with this node, its limit; "
                "try again when one has ended"
            )
        if self.total >= limits.max_concurrent:
            raise TooManySessions("this node is running as many sessions as it takes; try again later")
        self._open[peer] += 1
        try:
            yield
        finally:
            self._open[peer] -= 1
            if not self._open[peer]:
                del self._open[peer]
