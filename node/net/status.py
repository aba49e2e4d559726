"""The one place that maps errors to gRPC status codes."""

from __future__ import annotations

import grpc

from matcher.psi import PolicyRefused
from node.core.errors import (
    FederationMismatch,
    NotAPeer,
    PeerIdle,
    PermissionRefused,
    QuotaExceeded,
    StoreUnavailable,
    UnknownMatch,
    fault_of,
)

__all__ = ["status_for"]


def status_for(error: BaseException) -> grpc.StatusCode:
    """The gRPC status a refusal or failure is reported with."""
    if isinstance(error, NotAPeer | PermissionRefused):
        return grpc.StatusCode.PERMISSION_DENIED
    if isinstance(error, FederationMismatch):
        return grpc.StatusCode.FAILED_PRECONDITION
    if isinstance(error, UnknownMatch):
        return grpc.StatusCode.NOT_FOUND
    if isinstance(error, StoreUnavailable):
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
