"""The application's error root, its families by fault, and how errors from below are classified.

Every error the node raises on purpose derives from :class:`CasebridgeError`, in one of two families that
say whose fault it is, so the edges (CLI, gRPC, audit) pick an exit code or status code without string
matching:

* :class:`LocalError` -- our side: bad input, bad configuration, a caller misusing an API, a store fault;
* :class:`RemoteError` -- the peer: malformed data, a message out of protocol, a refused policy.

``crypto`` and ``matcher`` sit below the node and have roots of their own (they know nothing of faults at
the application's level); :func:`fault_of` places their errors in one family or the other. Messages never
carry identifiers, canonical values or key material.
"""

from __future__ import annotations

import re
from typing import Literal

from crypto.errors import CryptoError, CryptoUsageError
from matcher.errors import MatcherError
from matcher.identifiers import InvalidIdentifier
from matcher.psi import LocalProtocolError

__all__ = [
    "EXPECTED_ERRORS",
    "CasebridgeError",
    "FederationMismatch",
    "LocalError",
    "NotAPeer",
    "PeerFailed",
    "PeerIdle",
    "PermissionRefused",
    "QuotaExceeded",
    "RemoteError",
    "SessionOverdue",
    "StoreUnavailable",
    "UnknownMatch",
    "fault_of",
    "peer_text",
]


class CasebridgeError(Exception):
    """Root of every error the node raises on purpose."""


class LocalError(CasebridgeError):
    """Our side is at fault: bad input, configuration, API misuse, a database we cannot use."""


class RemoteError(CasebridgeError):
    """The peer is at fault: malformed data or a message outside the protocol."""


# Everything raised on purpose, at any layer: what an edge may turn into a message instead of a crash.
EXPECTED_ERRORS: tuple[type[Exception], ...] = (CasebridgeError, CryptoError, MatcherError)


def fault_of(error: BaseException) -> Literal["local", "remote"] | None:
    """Whose fault an error is: ours, the peer's, or None for an unexpected fault (a bug, an OS error)."""
    if isinstance(error, LocalError | CryptoUsageError | LocalProtocolError | InvalidIdentifier):
        return "local"
    if isinstance(error, RemoteError | CryptoError | MatcherError):
        return "remote"
    return None


class StoreUnavailable(LocalError):
    """The node database cannot be used right now: locked by another process, read-only, or unreadable.

    A person sees one line naming the database; a peer sees only ``UNAVAILABLE`` (try again later).
    """


class NotAPeer(RemoteError):
    """The caller's certificate does not belong to a configured, pinned peer."""


class PermissionRefused(RemoteError):
    """The peer asked for something its policy does not allow (a key type, a mode)."""


class QuotaExceeded(RemoteError):
    """The peer went over its set-size cap or its daily quota of keys."""


class FederationMismatch(RemoteError):
    """The peer does not hold our federation secret: no key of ours could ever match one of its keys."""


class PeerIdle(RemoteError):
    """The peer stopped sending in the middle of a call."""


class SessionOverdue(PeerIdle):
    """The peer kept a session open past the whole-session deadline."""


class UnknownMatch(RemoteError):
    """The peer referred to a match handle or request we do not share with it."""


class PeerFailed(LocalError):
    """A call to a peer did not succeed; the message says what the peer or the network said.

    ``transient`` is true when the peer could not be reached (worth retrying later), false when the peer
    answered with a refusal.
    """

    def __init__(self, message: str, *, transient: bool = True) -> None:
        super().__init__(message)
        self.transient = transient


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")
PEER_TEXT_LIMIT = 300


def peer_text(text: str | None, limit: int = PEER_TEXT_LIMIT) -> str:
    """Text a peer sent us (a status message), made safe to print, log and audit: one line, bounded."""
    cleaned = _CONTROL.sub(" ", text or "").strip()
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"
