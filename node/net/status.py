"""The one place that maps errors to gRPC status codes."""

from __future__ import annotations

import grpc

from matcher.psi import EpochEnded, PeerMisbehaved, PolicyRefused, VersionMismatch
from node.core.errors import (
    FederationMismatch,
    NotAPeer,
    PeerIdle,
    PermissionRefused,
    QuotaExceeded,
    UnknownMatch,
    fault_of,
)
from node.store import is_unavailable

__all__ = ["GENERIC_DETAIL", "peer_detail", "status_for", "status_name"]

# What a peer reads when a call fails through a fault of ours; the full cause goes to our log and audit log.
GENERIC_DETAIL = "the node could not complete the call (internal error)"


def _store_unavailable(error: BaseException) -> bool:
    """Whether ``error``, or an error it was raised from, says the store cannot be used now."""
    if is_unavailable(error):
        return True
    cause = error.__cause__ or error.__context__
    return cause is not None and cause is not error and _store_unavailable(cause)


def status_for(error: BaseException) -> grpc.StatusCode:
    """The gRPC status a refusal or failure is reported with."""
    if isinstance(error, NotAPeer | PermissionRefused):
        return grpc.StatusCode.PERMISSION_DENIED
    if isinstance(error, PeerMisbehaved):
        return grpc.StatusCode.ABORTED
    if isinstance(error, FederationMismatch | VersionMismatch | EpochEnded):
        return grpc.StatusCode.FAILED_PRECONDITION
    if isinstance(error, UnknownMatch):
        return grpc.StatusCode.NOT_FOUND
    if _store_unavailable(error):
        return grpc.StatusCode.UNAVAILABLE
    if isinstance(error, PeerIdle):
        return grpc.StatusCode.DEADLINE_EXCEEDED
    if isinstance(error, QuotaExceeded | PolicyRefused):
        return grpc.StatusCode.RESOURCE_EXHAUSTED
    fault = fault_of(error)
    if fault == "remote":
        return grpc.StatusCode.INVALID_ARGUMENT
    if fault == "local":
        return grpc.StatusCode.FAILED_PRECONDITION
    return grpc.StatusCode.INTERNAL


def status_name(error: BaseException) -> str:
    """The name of :func:`status_for`'s code (what the store and the audit log keep)."""
    return status_for(error).name


def peer_detail(error: BaseException, generic: str = GENERIC_DETAIL) -> str:
    """What the peer may read about ``error``: its own faults keep their actionable text, ours are generic
    (a local message may name a path, a class or our configuration)."""
    return str(error) if fault_of(error) == "remote" else generic
