"""Node-level errors, by fault, and the one place that maps errors to gRPC status codes."""

from __future__ import annotations

import re

import grpc

from crypto.errors import CasebridgeError, LocalError, RemoteError
from matcher.psi import PolicyRefused, RemoteProtocolError

__all__ = [
    "FederationMismatch",
    "NotAPeer",
    "PeerFailed",
    "PeerIdle",
    "PermissionRefused",
    "QuotaExceeded",
    "UnknownMatch",
    "peer_text",
    "status_for",
]


class NotAPeer(RemoteError):
    """The caller's certificate does not belong to a configured, pinned peer."""


class PermissionRefused(RemoteError):
    """The peer asked for something its policy does not allow (a key type, a mode)."""


class QuotaExceeded(PolicyRefused):
    """The peer went over its set-size cap or its daily quota of keys."""


class FederationMismatch(RemoteError):
    """The peer does not hold our federation secret: no key of ours could ever match one of its keys."""


class PeerIdle(RemoteError):
    """The peer stopped sending in the middle of a call."""


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


def status_for(error: BaseException) -> grpc.StatusCode:
    """The gRPC status a refusal or failure is reported with."""
    if isinstance(error, NotAPeer):
        return grpc.StatusCode.PERMISSION_DENIED
    if isinstance(error, PermissionRefused):
        return grpc.StatusCode.PERMISSION_DENIED
    if isinstance(error, FederationMismatch):
        return grpc.StatusCode.FAILED_PRECONDITION
    if isinstance(error, UnknownMatch):
        return grpc.StatusCode.NOT_FOUND
    if isinstance(error, PeerIdle):
        return grpc.StatusCode.DEADLINE_EXCEEDED
    if isinstance(error, PolicyRefused):
        return grpc.StatusCode.RESOURCE_EXHAUSTED
    if isinstance(error, RemoteProtocolError | RemoteError):
        return grpc.StatusCode.INVALID_ARGUMENT
    if isinstance(error, LocalError):
        return grpc.StatusCode.FAILED_PRECONDITION
    if isinstance(error, CasebridgeError):
        return grpc.StatusCode.INTERNAL
    return grpc.StatusCode.INTERNAL
