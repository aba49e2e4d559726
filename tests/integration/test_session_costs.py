"""Every session costs the peer that opens it, and no peer can hold this node's sessions for free.

Each test runs a real node over mutual TLS and a peer that opens sessions with raw frames: empty ones,
ones it never finishes, many at once. The node charges each at least a floor against a rolling 24-hour
quota, bounds the work it does for each peer, caps concurrent sessions per peer and in all, and cuts a
session that outlives its deadline, auditing every refusal and cut.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest

from node.config.settings import update_config
from node.core.home import NodeHome
from node.matching.steps import MIN_CHARGE
from proto.casebridge.v1 import casebridge_pb2 as pb
from proto.casebridge.v1 import casebridge_pb2_grpc as pb_grpc
from tests.integration.conftest import Federation
from tests.integration.raw import credentials, open_channel, open_frame, raw_match
from tests.waiting import async_wait_until

pytestmark = pytest.mark.timeout(180)

NODE, CALLER, OTHER = "NL-NP", "DE-BKA", "RO-DIICOT"


def _configure(
    federation: Federation, peer: dict[str, Any] | None = None, sessions: dict[str, Any] | None = None
) -> None:
    def edit(document: dict[str, Any]) -> None:
        document["peers"][CALLER].update(peer or {})
        document["peers"][CALLER].setdefault("daily_quota", 100 * MIN_CHARGE)
        if sessions:
            document["sessions"] = sessions

    update_config(NodeHome(federation.home(NODE)), edit)


def _serve(federation: Federation) -> None:
    federation.serve_in_process(NODE)
    federation.publish_addresses()


def _empty_session(federation: Federation) -> tuple[grpc.StatusCode, str]:
    """One session that announces no keys and ends after its Open."""

    async def call() -> tuple[grpc.StatusCode, str]:
        creds = credentials(federation.home(NODE), federation.home(CALLER))
        async with open_channel(federation.ports[NODE], creds) as channel:
            outcome = await raw_match(channel, [open_frame(0)], timeout=30)
        return outcome.code, outcome.details

    return federation.loop.run(call(), timeout=60)


def _running(federation: Federation) -> int:
    with sqlite3.connect(federation.home(NODE) / "casebridge.db") as conn:
        return int(conn.execute("SELECT COUNT(*) FROM sessions WHERE status = 'running'").fetchone()[0])


def _refused(federation: Federation) -> list[dict[str, Any]]:
    return [d for e, d in federation.audit_details(NODE) if e == "session.refused"]


def test_empty_sessions_are_charged_at_least_the_floor(idle_federation: Federation) -> None:
    _configure(idle_federation, {"daily_quota": 2 * MIN_CHARGE + MIN_CHARGE // 2})
    _serve(idle_federation)
    first, second = _empty_session(idle_federation), _empty_session(idle_federation)
    assert grpc.StatusCode.RESOURCE_EXHAUSTED not in (first[0], second[0])
    code, details = _empty_session(idle_federation)
    # Two empty sessions counted 2 x MIN_CHARGE; a third would pass the quota.
    assert code is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "in the last 24 hours" in details and f"at least {MIN_CHARGE}" in details
    assert _refused(idle_federation)[-1]["status"] == "RESOURCE_EXHAUSTED"


def _earlier_session(federation: Federation, hours_ago: float, keys: int) -> None:
    """A session the caller ran with us ``hours_ago``, as the node recorded it then."""
    started = (datetime.now(UTC) - timedelta(hours=hours_ago)).isoformat(timespec="seconds")
    with sqlite3.connect(federation.home(NODE) / "casebridge.db") as conn:
        conn.execute(
            "INSERT INTO sessions (session_id, peer, role, mode, key_types, status, own_size, peer_size,"
            " intersection, started_at, finished_at, day, reason) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                f"{hours_ago:032.0f}",
                CALLER,
                "responder",
                "mutual",
                "[]",
                "completed",
                10,
                keys,
                0,
                started,
                started,
                started[:10],
                None,
            ),
        )


@pytest.mark.parametrize(("hours_ago", "refused"), [(23.5, True), (24.5, False)])
def test_the_quota_is_a_rolling_24_hour_window(idle_federation: Federation, hours_ago: float, refused: bool) -> None:
    # A session that used the whole quota counts until 24 hours after it began, across any midnight.
    quota = 5 * MIN_CHARGE
    _configure(idle_federation, {"daily_quota": quota})
    _earlier_session(idle_federation, hours_ago, quota)
    _serve(idle_federation)
    code, _ = _empty_session(idle_federation)
    assert (code is grpc.StatusCode.RESOURCE_EXHAUSTED) is refused


def _own_keys(federation: Federation) -> int:
    with sqlite3.connect(federation.home(NODE) / "casebridge.db") as conn:
        return int(conn.execute("SELECT COUNT(DISTINCT element) FROM match_keys").fetchone()[0])


def test_our_blinding_work_for_one_peer_is_bounded(idle_federation: Federation) -> None:
    own = _own_keys(idle_federation)
    # Full sessions only: a delta after the first would blind almost nothing.
    _configure(idle_federation, {"daily_work": 2 * own, "epoch": "none"})
    _serve(idle_federation)
    assert [idle_federation.match(CALLER, NODE).status for _ in range(2)] == ["completed", "completed"]
    third = idle_federation.match(CALLER, NODE)
    assert third.status == "failed" and third.error is not None and "blinds for" in third.error
    # Another peer's allowance is its own.
    assert idle_federation.match(OTHER, NODE).status == "completed"


async def _held(channel: grpc.aio.Channel, release: asyncio.Event) -> grpc.StatusCode:
    """A session that sends its Open and then holds the call open until ``release``."""

    async def frames() -> AsyncIterator[pb.PsiFrame]:
        yield open_frame(1)
        await release.wait()

    call = pb_grpc.ExchangeStub(channel).Match(frames(), timeout=120)
    try:
        async for _ in call:
            pass
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return await call.code()


def test_concurrent_sessions_are_capped_and_the_node_serves_others(idle_federation: Federation) -> None:
    _configure(idle_federation, sessions={"max_concurrent": 3, "max_concurrent_per_peer": 2})
    _serve(idle_federation)
    creds = credentials(idle_federation.home(NODE), idle_federation.home(CALLER))
    other_creds = credentials(idle_federation.home(NODE), idle_federation.home(OTHER))

    async def scenario() -> tuple[list[grpc.StatusCode], int, str, grpc.StatusCode]:
        release = asyncio.Event()
        async with open_channel(idle_federation.ports[NODE], creds) as channel:
            calls = [asyncio.ensure_future(_held(channel, release)) for _ in range(20)]
            done, pending = await asyncio.wait(calls, timeout=60, return_when=asyncio.FIRST_COMPLETED)
            while len(done) < 18 and pending:
                more, pending = await asyncio.wait(pending, timeout=60, return_when=asyncio.FIRST_COMPLETED)
                assert more, "the refusals did not arrive within the deadline"
                done |= more
            refused = [c.result() for c in done]
            still_open = len(pending)
            # The caller holds two sessions; the other peer gets the node's last place, and a second
            # session of the other peer would find the node full.
            other = await asyncio.wrap_future(idle_federation.start_match(OTHER, NODE))
            # With the other peer holding the node's third place, its next session finds the node full.
            async with open_channel(idle_federation.ports[NODE], other_creds) as other_channel:
                holding = asyncio.ensure_future(_held(other_channel, release))
                await async_wait_until(lambda: _running(idle_federation) >= 3, 60, "three running sessions")
                full = await _held(other_channel, release)
                release.set()
                await asyncio.wait([holding, *pending], timeout=60)
        return refused, still_open, other.status, full

    refused, still_open, other, full = idle_federation.loop.run(scenario(), timeout=150)
    assert refused == [grpc.StatusCode.RESOURCE_EXHAUSTED] * 18
    assert still_open == 2
    assert other == "completed"
    assert full is grpc.StatusCode.RESOURCE_EXHAUSTED
    reasons = [d["reason"] for d in _refused(idle_federation)]
    assert sum("its limit" in r for r in reasons) == 18
    assert sum("as many sessions as it takes" in r for r in reasons) == 1


def test_a_session_past_its_deadline_is_cut_and_audited(idle_federation: Federation) -> None:
    # The idle timeout (120 s) never fires: the whole-session deadline does.
    _configure(idle_federation, sessions={"deadline_seconds": 2})
    _serve(idle_federation)
    creds = credentials(idle_federation.home(NODE), idle_federation.home(CALLER))

    async def scenario() -> grpc.StatusCode:
        async with open_channel(idle_federation.ports[NODE], creds) as channel:
            return await asyncio.wait_for(_held(channel, asyncio.Event()), 90)

    assert idle_federation.loop.run(scenario(), timeout=120) is grpc.StatusCode.DEADLINE_EXCEEDED
    failed = [d for e, d in idle_federation.audit_details(NODE) if e == "session.failed"]
    assert failed[-1]["status"] == "DEADLINE_EXCEEDED"
    assert failed[-1]["reason"] == "the session ran past its deadline of 2 s"
