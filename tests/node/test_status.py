"""The one error-to-status map: a busy or read-only store is UNAVAILABLE, however it is wrapped."""

from __future__ import annotations

import sqlite3

import grpc

from node.core.errors import LocalError, NotAPeer, StoreUnavailable
from node.net.status import GENERIC_DETAIL, peer_detail, status_for


def _wrapped(cause: Exception) -> LocalError:
    try:
        try:
            raise cause
        except Exception:
            raise LocalError("/srv/casebridge/casebridge.db: cannot open the database") from None
    except LocalError as exc:
        return exc


def test_a_busy_store_is_unavailable() -> None:
    assert status_for(StoreUnavailable("locked")) is grpc.StatusCode.UNAVAILABLE
    assert status_for(sqlite3.OperationalError("database is locked")) is grpc.StatusCode.UNAVAILABLE
    assert status_for(sqlite3.OperationalError("attempt to write a readonly database")) is grpc.StatusCode.UNAVAILABLE
    assert status_for(_wrapped(sqlite3.OperationalError("database is locked"))) is grpc.StatusCode.UNAVAILABLE


def test_other_faults_keep_their_codes() -> None:
    assert status_for(sqlite3.OperationalError("no such table: x")) is grpc.StatusCode.INTERNAL
    assert status_for(_wrapped(ValueError("x"))) is grpc.StatusCode.FAILED_PRECONDITION
    assert status_for(NotAPeer("x")) is grpc.StatusCode.PERMISSION_DENIED


def test_only_the_peers_faults_keep_their_text() -> None:
    assert peer_detail(NotAPeer("agency XX is not a configured peer")) == "agency XX is not a configured peer"
    assert peer_detail(_wrapped(ValueError("x"))) == GENERIC_DETAIL
    assert peer_detail(KeyError("secret")) == GENERIC_DETAIL
