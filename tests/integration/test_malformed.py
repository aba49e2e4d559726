"""Malformed stream messages end that session with INVALID_ARGUMENT and leave other sessions alone."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from matcher.psi import Tags
from node.config.settings import update_config
from node.core.home import NodeHome
from node.net.client import PeerOutcome
from node.net.wire import encode
from proto.casebridge.v1 import casebridge_pb2 as pb
from tests.integration.conftest import Federation
from tests.integration.raw import credentials, open_channel, open_frame, raw_match, stored_elements

pytestmark = pytest.mark.timeout(120)

RESPONDER = "NL-NP"
CALLER = "DE-BKA"
P = 2**255 - 19


def _elements(data: bytes) -> pb.PsiFrame:
    return pb.PsiFrame(elements=pb.Elements(data=data))


def _streams(good: list[bytes]) -> dict[str, list[pb.PsiFrame]]:
    """Each a session that a correct peer never sends."""
    return {
        "identity element": [open_frame(1), _elements(bytes(32))],
        "non-canonical u >= p": [open_frame(1), _elements((P + 1).to_bytes(32, "little"))],
        "truncated chunk": [open_frame(1), _elements(good[0][:31])],
        "more elements than announced": [open_frame(1), _elements(good[0] + good[1])],
        "second open": [open_frame(1), open_frame(1)],
        "tags before open": [encode(Tags(bytes(8)))],
        "elements before open": [_elements(good[0])],
        "unknown mode": [pb.PsiFrame(open=pb.Open(suite="x", mode=pb.MODE_UNSPECIFIED, set_size=1))],
        "empty frame": [open_frame(1), pb.PsiFrame()],
        "ends before complete": [open_frame(1)],
    }


def test_malformed_streams_end_only_their_session(federation: Federation) -> None:
    port = federation.ports[RESPONDER]
    creds = credentials(federation.home(RESPONDER), federation.home(CALLER))
    streams = _streams(stored_elements(federation.home(CALLER), 2))
    # All of them at once, from one peer: above the default cap on its concurrent sessions.
    update_config(NodeHome(federation.home(RESPONDER)),
                  lambda d: d.update(sessions={"max_concurrent": 32, "max_concurrent_per_peer": 16}))  # fmt: skip
    before = len(federation.audit_events(RESPONDER))

    async def scenario() -> tuple[dict[str, grpc.StatusCode], PeerOutcome]:
        async with open_channel(port, creds) as channel:
            # A good session with the same node runs while the bad ones arrive (from a worker thread,
            # because the in-process client blocks until its session is done).
            good = asyncio.ensure_future(asyncio.to_thread(federation.match, "RO-DIICOT", RESPONDER))
            outcomes = await asyncio.gather(*(raw_match(channel, frames) for frames in streams.values()))
            return dict(zip(streams, (o.code for o in outcomes), strict=True)), await good

    codes, good = federation.loop.run(scenario(), timeout=90)
    assert good.status == "completed", good.error
    assert good.intersection == 5
    assert codes == dict.fromkeys(streams, grpc.StatusCode.INVALID_ARGUMENT)

    # Each bad session is on record with its status; the log still verifies.
    new = federation.audit_events(RESPONDER)[before:]
    bad_entries = [status for event, status in new if event in ("session.failed", "session.refused")]
    assert bad_entries == ["INVALID_ARGUMENT"] * len(streams)
    assert sum(1 for event, _ in new if event == "session.completed") == 1
    assert "intact" in federation.cli(RESPONDER, "audit", "verify").stdout

    # Right after, the attacked node matches normally with the very peer whose certificate was used.
    outcome = federation.match(CALLER, RESPONDER)
    assert outcome.status == "completed", outcome.error
    assert outcome.intersection == 4
