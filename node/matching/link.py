"""What the session runner needs from a transport, and what it hands back: no gRPC here."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

from matcher.psi import Message, Open
from node.alerts.book import RecordSummary
from node.core.errors import PeerFailed

__all__ = ["Connect", "Ending", "Link", "LinkBroken", "Opening", "StatusOf"]

# The one error-to-status map lives with the network edge; the runner is handed it and keeps only names.
StatusOf = Callable[[BaseException], str]


class Link(Protocol):
    """A session's message stream with the peer, as the network layer provides it."""

    async def send(self, message: Message) -> None: ...

    def received(self) -> AsyncIterator[Message]: ...

    async def sent_all(self) -> None:
        """Our last message is out (the initiator half-closes here)."""

    def cancel(self) -> None:
        """Abandon the stream (the session failed or was cancelled on our side)."""


class LinkBroken(PeerFailed):
    """The link ended the session: the peer's status, or the network's; ``status`` is its name."""

    def __init__(self, message: str, status: str) -> None:
        super().__init__(message, transient=status in ("UNAVAILABLE", "DEADLINE_EXCEEDED"))
        self.status = status


@dataclass(frozen=True)
class Opening:
    """What the initiator's first frame carries: the Open and the header only nodes read."""

    message: Open
    session_id: bytes
    key_types: tuple[str, ...]
    federation_proof: bytes


Connect = Callable[[Opening], AbstractAsyncContextManager[Link]]


@dataclass(frozen=True)
class Ending:
    """How a session ended: ``status`` is OK or a status name; ``detail`` is what the peer may read."""

    status: str
    detail: str = ""
    reason: str | None = None  # the full local cause (our log, our audit)
    summary: RecordSummary | None = None
    intersection: int = 0

    @property
    def ok(self) -> bool:
        return self.status == "OK"
