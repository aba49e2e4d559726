"""Never two sessions with one peer at once: a scheduler waits for the running one, and two nodes opening a
session with each other at the same moment run one of them.

Real nodes over mutual TLS. The "busy" peer is held busy by a real session left open on the wire, either a
raw client that opened one and says nothing more, or a server with the peer's own certificate that takes
the call and never answers.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from pathlib import Path
from typing import Any

import grpc
import pytest

from node.core.home import NodeHome
from node.net.local import free_port
from node.net.tls import ConfigWatch, server_credentials
from proto.casebridge.v1 import casebridge_pb2 as pb
from proto.casebridge.v1 import casebridge_pb2_grpc as pb_grpc
from tests.integration.conftest import Federation, set_schedule
from tests.integration.raw import credentials, open_channel, open_frame
from tests.waiting import async_wait_until, wait_until

pytestmark = pytest.mark.timeout(180)

NL, DE = "NL-NP", "DE-BKA"  # DE-BKA sorts first


def _sessions(home: Path) -> list[tuple[str, str, str, str | None]]:
    with closing(sqlite3.connect(home / "casebridge.db")) as conn:
        return conn.execute("SELECT peer, role, status, reason FROM sessions ORDER BY id").fetchall()


def _round(fed: Federation, code: str, peer: str) -> dict[str, Any]:
    document = json.loads(fed.cli(code, "schedule", "status", "--json").stdout)
    return next(p for p in document["peers"] if p["peer"] == peer)


def test_a_scheduled_round_waits_while_the_peer_holds_a_session_open(
    idle_federation: Federation, tmp_path: Path
) -> None:
    fed = idle_federation
    fed.ports[NL] = free_port()
    fed.publish_addresses()
    set_schedule(fed.home(NL), enabled=True, after_import=1, interval=3600)
    fed.serve_subprocess(NL, port=fed.ports[NL])
    # NL's first round with DE fails (DE does not serve): from then on DE is a peer NL retries.
    wait_until(lambda: _round(fed, NL, DE)["failures"] >= 1, 60, "NL's first round with DE")
    release = asyncio.Event()

    async def requests() -> AsyncIterator[pb.PsiFrame]:
        yield open_frame(5)
        await release.wait()

    async def hold_open() -> None:
        async with open_channel(fed.ports[NL], credentials(fed.home(NL), fed.home(DE))) as channel:
            call = pb_grpc.ExchangeStub(channel).Match(requests(), timeout=120)
            # DE's session with NL is running; NL's due round with DE must wait for it.
            await async_wait_until(lambda: any(s[2] == "running" for s in _sessions(fed.home(NL))), 30, "the open")
            waiting = await async_wait_until(lambda: (r := _round(fed, NL, DE))["next_cause"].endswith(
                "waiting for the session running with the peer") and r, 60, "NL to wait")  # fmt: skip
            assert waiting["next_cause"].startswith("retry")
            assert not [s for s in _sessions(fed.home(NL)) if s[1] == "initiator" and s[2] == "running"]
            call.cancel()
            release.set()

    fed.loop.run(hold_open(), timeout=120)
    # Once DE's session has ended, NL goes on with its round (DE still does not serve, so it fails again).
    before = _round(fed, NL, DE)["failures"]
    wait_until(lambda: _round(fed, NL, DE)["failures"] > before, 60, "NL's next round after the wait")


@asynccontextmanager
async def _held_open(fed: Federation, caller: str, callee: str) -> AsyncIterator[None]:
    """A session ``caller`` opens with ``callee`` that stays running until the block ends: a server with the
    callee's own certificate takes the call and never answers, as when the two nodes open sessions with
    each other at the same moment. The callee's real address is put back for the block."""
    release = asyncio.Event()

    async def silent(request_iterator: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[bytes]:
        await release.wait()
        await context.abort(grpc.StatusCode.UNAVAILABLE, "going away")
        yield b""  # never reached: makes this an async generator

    server = grpc.aio.server()
    handler = grpc.method_handlers_generic_handler(
        "casebridge.v1.Exchange", {"Match": grpc.stream_stream_rpc_method_handler(silent)}
    )
    server.add_generic_rpc_handlers((handler,))
    real_port = fed.ports[callee]
    fed.ports[callee] = server.add_secure_port(
        "127.0.0.1:0", server_credentials(ConfigWatch(NodeHome(fed.home(callee))))
    )
    await server.start()
    held = None
    try:
        await asyncio.to_thread(fed.publish_addresses)
        held = fed.start_match(caller, callee)
        await async_wait_until(
            lambda: any(
                p == callee and r == "initiator" and s == "running" for p, r, s, _ in _sessions(fed.home(caller))
            ),
            30,
            f"{caller}'s session to run",
        )
        fed.ports[callee] = real_port
        await asyncio.to_thread(fed.publish_addresses)
        yield
    finally:
        release.set()
        if held is not None:
            await asyncio.wrap_future(held)
        await server.stop(0)


def test_two_nodes_opening_at_once_run_the_session_of_the_one_whose_code_sorts_first(
    federation: Federation,
) -> None:
    fed = federation

    async def scenario() -> None:
        async with _held_open(fed, DE, NL):  # DE's own session with NL runs
            refused = await asyncio.to_thread(fed.match, NL, DE)
            assert refused.status == "failed" and "running a session with NL-NP itself" in (refused.error or ""), (
                refused
            )

    fed.loop.run(scenario(), timeout=120)
    refusals = [d for e, d in fed.audit_details(DE) if e == "session.refused"]
    assert refusals and refusals[-1]["status"] == "RESOURCE_EXHAUSTED"
    # With DE's own session over, NL's next one runs.
    assert fed.match(NL, DE).status == "completed"


def test_the_node_whose_code_sorts_later_accepts_while_its_own_session_runs(federation: Federation) -> None:
    """The rule has one winner: NL (sorting later) keeps answering DE while NL's own session runs."""
    fed = federation

    async def scenario() -> None:
        async with _held_open(fed, NL, DE):  # NL's own session with DE runs
            accepted = await asyncio.to_thread(fed.match, DE, NL)
            assert accepted.status == "completed", accepted

    fed.loop.run(scenario(), timeout=120)
