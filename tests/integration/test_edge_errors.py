"""Errors at the edge: a peer reads a status code and, for our faults, only a fixed generic detail.

Each of our fault paths is provoked for real on a serving node (a config edited into an invalid state, a
database another process holds, a missing federation secret, bytes that are no frame); the peer never sees a
local path or a Python class name, and every session that opened ends in the store and the audit log.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sqlite3
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from node.store.db import LOCK_WAIT_VARIABLE
from proto.casebridge.v1 import casebridge_pb2 as pb
from proto.casebridge.v1 import casebridge_pb2_grpc as pb_grpc
from tests.integration.conftest import Federation, cli
from tests.integration.raw import (
    RawOutcome,
    credentials,
    open_channel,
    open_frame,
    raw_bytes_match,
    raw_match,
)
from tests.waiting import async_wait_until, wait_until

pytestmark = pytest.mark.timeout(120)

RESPONDER, CALLER = "NL-NP", "DE-BKA"
UNDECODABLE = b"\xff\xff\xff\xff"  # field number 0x1fffffff with wire type 7: no protobuf message at all
_CLASS_NAME = re.compile(r"\b[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)+\b|Error\b|Exception\b|Traceback")


def _assert_clean(outcome: RawOutcome, fed: Federation) -> None:
    """The details carry no local path and no Python class name."""
    details = outcome.details
    assert str(fed.root) not in details and "/" not in details, details
    assert not _CLASS_NAME.search(details), details


def _attempt(fed: Federation, frames: list[pb.PsiFrame]) -> RawOutcome:
    creds = credentials(fed.home(RESPONDER), fed.home(CALLER))

    async def attempt() -> RawOutcome:
        async with open_channel(fed.ports[RESPONDER], creds) as channel:
            return await raw_match(channel, frames, timeout=60)

    return fed.loop.run(attempt(), timeout=90)


# gRPC Python's own status when its write of a request fails because the call has already ended: the node's
# answer is then lost on the client side (grpc/grpc#36066), which a loaded machine makes likelier.
_LOCAL_WRITE_RACE = (grpc.StatusCode.INTERNAL, "Internal error from Core")


def _answered(fed: Federation, frames: list[pb.PsiFrame]) -> RawOutcome:
    """:func:`_attempt`, repeated (at most twice more) while the client lost the node's answer to that race."""
    outcome = _attempt(fed, frames)
    for _ in range(2):
        if (outcome.code, outcome.details) != _LOCAL_WRITE_RACE:
            break
        outcome = _attempt(fed, frames)
    return outcome


def _audit(fed: Federation) -> list[tuple[str, dict[str, Any]]]:
    with sqlite3.connect(fed.home(RESPONDER) / "casebridge.db") as conn:
        rows = conn.execute("SELECT event, detail FROM audit ORDER BY seq").fetchall()
    return [(event, json.loads(detail)) for event, detail in rows]


def _sessions(fed: Federation) -> list[tuple[str, str, str | None]]:
    with sqlite3.connect(fed.home(RESPONDER) / "casebridge.db") as conn:
        return conn.execute("SELECT session_id, status, reason FROM sessions WHERE role = 'responder'").fetchall()


def test_an_invalid_config_while_serving(federation: Federation, caplog: pytest.LogCaptureFixture) -> None:
    fed = federation
    config = fed.home(RESPONDER) / "casebridge.toml"
    good = config.read_bytes()
    config.write_text("this is [not toml\n")
    with caplog.at_level(logging.ERROR, logger="casebridge.server"):
        first, second = _answered(fed, [open_frame(1)]), _answered(fed, [open_frame(1)])
    for outcome in (first, second):
        assert outcome.code is grpc.StatusCode.UNAVAILABLE
        _assert_clean(outcome, fed)
    # Logged and audited once, not once per call.
    assert [e for e, _ in _audit(fed)].count("node.config-invalid") == 1
    assert sum("configuration is unusable" in r.getMessage() for r in caplog.records) == 1

    address = f"127.0.0.1:{fed.ports[RESPONDER]}"
    broken = cli(fed.home(RESPONDER), "health", "--address", address, "--json", check=False)
    assert broken.returncode != 0
    assert broken.json()["status"] == "NOT_SERVING"
    assert "casebridge.toml" in broken.json()["detail"]  # the reason, locally
    config.write_bytes(good)
    repaired = cli(fed.home(RESPONDER), "health", "--address", address, "--json")
    assert repaired.json()["status"] == "SERVING"
    assert "node.config-repaired" in [e for e, _ in _audit(fed)]


def test_a_locked_database_is_unavailable(federation: Federation, monkeypatch: pytest.MonkeyPatch) -> None:
    fed = federation
    monkeypatch.setenv(LOCK_WAIT_VARIABLE, "1000")  # the node waits this long for the lock, then gives up
    holder = sqlite3.connect(fed.home(RESPONDER) / "casebridge.db", isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        outcome = _attempt(fed, [open_frame(1)])
    finally:
        holder.close()
    assert outcome.code is grpc.StatusCode.UNAVAILABLE, outcome
    _assert_clean(outcome, fed)
    assert "internal error" in outcome.details


def test_a_fault_of_ours_reads_generic(federation: Federation) -> None:
    fed = federation
    (fed.home(RESPONDER) / "federation.secret").unlink()
    outcome = _attempt(fed, [open_frame(1)])
    assert outcome.code is grpc.StatusCode.FAILED_PRECONDITION, outcome
    _assert_clean(outcome, fed)
    assert outcome.details == "the responder could not complete the session (internal error)"
    refused = [d for e, d in _audit(fed) if e == "session.refused"]
    assert "federation secret" in refused[-1]["reason"]  # the full cause stays with us


@pytest.mark.parametrize("where", ["first frame", "mid-session"])
def test_an_undecodable_frame(federation: Federation, caplog: pytest.LogCaptureFixture, where: str) -> None:
    fed = federation
    chunks = [UNDECODABLE] if where == "first frame" else [open_frame(1).SerializeToString(), UNDECODABLE]
    creds = credentials(fed.home(RESPONDER), fed.home(CALLER))

    async def attempt() -> RawOutcome:
        async with open_channel(fed.ports[RESPONDER], creds) as channel:
            return await raw_bytes_match(channel, chunks)

    with caplog.at_level(logging.WARNING):
        outcome = fed.loop.run(attempt(), timeout=60)
    assert outcome.code is grpc.StatusCode.INVALID_ARGUMENT, outcome
    _assert_clean(outcome, fed)
    assert "not a session frame" in outcome.details
    assert any("not a session frame" in r.getMessage() for r in caplog.records)
    event = "session.refused" if where == "first frame" else "session.failed"
    entries = [d for e, d in _audit(fed) if e == event]
    assert entries and entries[-1]["status"] == "INVALID_ARGUMENT"
    assert "not a session frame" in entries[-1]["reason"]


def test_a_cancel_right_after_open_is_recorded(federation: Federation) -> None:
    fed = federation
    creds = credentials(fed.home(RESPONDER), fed.home(CALLER))
    opened = asyncio.Event()

    async def requests() -> AsyncIterator[pb.PsiFrame]:
        yield open_frame(1)
        await opened.wait()

    async def scenario() -> None:
        async with open_channel(fed.ports[RESPONDER], creds) as channel:
            call = pb_grpc.ExchangeStub(channel).Match(requests(), timeout=60)
            # Cancel the moment the node holds the session open (its row is 'running').
            await async_wait_until(lambda: _sessions(fed), 30, "the session to open")
            call.cancel()
            opened.set()

    fed.loop.run(scenario(), timeout=60)
    rows = wait_until(lambda: [r for r in _sessions(fed) if r[1] != "running"], 30, "the session to end")
    assert rows[0][1] == "failed" and "cancelled" in (rows[0][2] or "")
    failed = wait_until(lambda: [d for e, d in _audit(fed) if e == "session.failed"], 30, "the audit entry")
    assert failed[-1]["status"] == "CANCELLED"
    assert "cancelled" in failed[-1]["reason"]


def test_an_unexpected_fault_reads_generic(federation: Federation) -> None:
    fed = federation
    with sqlite3.connect(fed.home(RESPONDER) / "casebridge.db") as conn:
        conn.execute("ALTER TABLE match_keys RENAME TO match_keys_gone")  # the store is not what the code expects
    outcome = _attempt(fed, [open_frame(1)])
    assert outcome.code is grpc.StatusCode.INTERNAL, outcome
    _assert_clean(outcome, fed)
    assert outcome.details == "the responder could not complete the session (internal error)"
    rows = wait_until(lambda: [r for r in _sessions(fed) if r[1] != "running"], 30, "the session to end")
    assert rows[0][1] == "failed" and "internal error" in (rows[0][2] or "")


def test_match_on_a_locked_database_is_one_line_and_calls_no_peer(
    federation: Federation, monkeypatch: pytest.MonkeyPatch
) -> None:
    fed = federation
    monkeypatch.setenv(LOCK_WAIT_VARIABLE, "1000")
    path = fed.home(CALLER) / "casebridge.db"
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        done = cli(fed.home(CALLER), "match", RESPONDER, check=False)
    finally:
        holder.close()
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines == [f"Error: {path}: database is locked: another process holds the write lock; try again"]
    assert _sessions(fed) == []  # the responder was never called
