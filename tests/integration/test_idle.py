"""A peer that stops sending cannot hold a session (our set, a thread, its quota) open for long."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest

from node.config.settings import Address
from node.core.home import NodeHome
from node.net.server import RunningServer, create_server
from node.net.tls import ConfigWatch
from proto.casebridge.v1 import casebridge_pb2 as pb
from proto.casebridge.v1 import casebridge_pb2_grpc as pb_grpc
from tests.integration.conftest import Federation
from tests.integration.raw import credentials, open_channel, open_frame

pytestmark = pytest.mark.timeout(60)

RESPONDER, CALLER = "NL-NP", "DE-BKA"


async def _stall(port: int, creds: grpc.ChannelCredentials, frames: list[pb.PsiFrame]) -> grpc.StatusCode:
    """Send ``frames``, then keep the stream open without sending anything more."""

    async def requests() -> AsyncIterator[pb.PsiFrame]:
        for frame in frames:
            yield frame
        await asyncio.Event().wait()  # silent until the server gives up (the call's own deadline ends it)

    async with open_channel(port, creds) as channel:
        call = pb_grpc.ExchangeStub(channel).Match(requests(), timeout=20)
        try:
            async for _ in call:
                pass
        except grpc.aio.AioRpcError as exc:
            return exc.code()
        return await call.code()


def test_a_silent_peer_is_cut_off(idle_federation: Federation) -> None:
    fed = idle_federation

    async def start() -> RunningServer:
        home = NodeHome(fed.home(RESPONDER))
        return await create_server(ConfigWatch(home), Address("127.0.0.1", 0), idle_timeout=1.0)

    server = fed.loop.run(start())
    fed.servers[RESPONDER] = server
    creds = credentials(fed.home(RESPONDER), fed.home(CALLER))

    # Silent before the first frame, and silent in the middle of a session.
    assert fed.loop.run(_stall(server.port, creds, [])) is grpc.StatusCode.DEADLINE_EXCEEDED
    assert fed.loop.run(_stall(server.port, creds, [open_frame(5)])) is grpc.StatusCode.DEADLINE_EXCEEDED
    audit = [(e["event"], e["detail"].get("status")) for e in fed.audit(RESPONDER)]
    assert ("session.refused", "DEADLINE_EXCEEDED") in audit
    assert ("session.failed", "DEADLINE_EXCEEDED") in audit
