"""The initiating side of a PSI session with one peer (``casebridge match``)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import grpc

from crypto.suite import suite_by_name
from matcher.psi import Blinder, Message, Mode, PsiSession, Role, blind_in_process
from node.alerts.book import RecordSummary
from node.config.settings import NodeConfig, Peer
from node.core.clock import now_iso, today_iso
from node.core.errors import EXPECTED_ERRORS, peer_text
from node.core.home import NodeHome
from node.matching.driver import drive
from node.matching.elements import SessionInput, load_session_input
from node.matching.outcome import SessionFacts, record_completed, record_failed, record_started
from node.net.channel import connected_or_failed
from node.net.server import MAX_MESSAGE_BYTES
from node.net.tls import channel_credentials
from node.net.wire import SESSION_ID_LENGTH, SessionHeader, decode, encode
from node.store import open_database, transaction
from node.store.sessions import keys_received_today
from proto.casebridge.v1 import casebridge_pb2 as pb
from proto.casebridge.v1 import casebridge_pb2_grpc as pb_grpc

__all__ = ["PeerOutcome", "match_peer"]

CONNECT_TIMEOUT_S = 10.0
_QUEUE_FRAMES = 8


@dataclass(frozen=True)
class PeerOutcome:
    peer: str
    mode: str
    status: str  # completed | failed
    own_size: int
    peer_size: int
    intersection: int
    new_alerts: int | None
    gone_alerts: int | None
    error: str | None
    seconds: float

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _describe(error: grpc.aio.AioRpcError) -> str:
    code = error.code()
    if code is grpc.StatusCode.UNAVAILABLE:
        return (
            "unreachable or the TLS handshake failed (is it serving, and does each side pin the other's "
            f"current certificate?): {peer_text(error.details())}"
        )
    return f"{code.name}: {peer_text(error.details())}"


async def match_peer(
    home: NodeHome,
    config: NodeConfig,
    peer: Peer,
    mode: Mode,
    progress: Callable[[PsiSession], None] | None = None,
    on_frame: Callable[[int], None] | None = None,
    blinder: Blinder = blind_in_process,
) -> PeerOutcome:
    """Run one session with ``peer`` and record its outcome; failures are returned, not raised.

    ``on_frame`` receives the serialized size of every frame sent or received (``casebridge bench``
    reports the bytes that really crossed).
    """
    loop = asyncio.get_running_loop()
    started = loop.time()
    suite = suite_by_name(config.suite)
    key_types = peer.policy.key_types
    facts = SessionFacts(
        session_id=os.urandom(SESSION_ID_LENGTH).hex(),
        peer=peer.code,
        role=Role.INITIATOR.value,
        mode=mode,
        key_types=key_types,
        started_at=now_iso(),
        day=today_iso(),
    )
    session_input, allowance = await asyncio.to_thread(_prepare, home, suite.name, peer, facts)
    session = PsiSession(
        role=Role.INITIATOR,
        suite=suite,
        elements=session_input.elements,
        random_bytes=os.urandom,
        mode=mode,
        max_peer_set_size=allowance,
        blinder=blinder,
    )

    def outcome(status: str, error: str | None, new: int | None = None, gone: int | None = None) -> PeerOutcome:
        result = session.result
        return PeerOutcome(
            peer=peer.code,
            mode=mode.value,
            status=status,
            own_size=session.own_size,
            peer_size=max(session.peer_size, 0),
            intersection=0 if result is None else result.intersection_size,
            new_alerts=new,
            gone_alerts=gone,
            error=error,
            seconds=round(loop.time() - started, 3),
        )

    if allowance < 0:
        error = f"the daily quota of keys for {peer.code} is used up"
        await asyncio.to_thread(record_failed, home, facts, session.own_size, 0, error, "RESOURCE_EXHAUSTED")
        return outcome("failed", error)
    session.start()
    opening = session.outbox()
    session_id = bytes.fromhex(facts.session_id)
    proof = suite.federation_proof(home.read_federation_secret(), session_id)
    header = SessionHeader(session_id, key_types, proof)
    options = [
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ]
    try:
        async with grpc.aio.secure_channel(str(peer.address), channel_credentials(home, peer), options) as channel:
            await asyncio.wait_for(connected_or_failed(channel), CONNECT_TIMEOUT_S)
            outgoing: asyncio.Queue[pb.PsiFrame | None] = asyncio.Queue(maxsize=_QUEUE_FRAMES)
            await outgoing.put(encode(opening[0], header))

            async def requests() -> AsyncIterator[pb.PsiFrame]:
                while (frame := await outgoing.get()) is not None:
                    if on_frame is not None:
                        on_frame(frame.ByteSize())
                    yield frame

            call = pb_grpc.ExchangeStub(channel).Match(requests())

            async def incoming() -> AsyncIterator[Message]:
                async for frame in call:
                    if on_frame is not None:
                        on_frame(frame.ByteSize())
                    yield decode(frame)

            async def half_close() -> None:
                await outgoing.put(None)

            try:
                result = await drive(
                    session,
                    send=lambda m: outgoing.put(encode(m)),
                    incoming=incoming(),
                    on_progress=progress,
                    sent_all=half_close,
                    read_to_end=True,
                )
            except BaseException:
                call.cancel()
                raise
    except TimeoutError:
        error = f"{peer.code} at {peer.address!s} did not answer within {CONNECT_TIMEOUT_S:.0f} s"
        await asyncio.to_thread(record_failed, home, facts, session.own_size, 0, error, "UNAVAILABLE")
        return outcome("failed", error)
    except grpc.aio.AioRpcError as exc:
        error = f"{peer.code}: {_describe(exc)}"
        await asyncio.to_thread(
            record_failed, home, facts, session.own_size, max(session.peer_size, 0), error, exc.code().name
        )
        return outcome("failed", error)
    except EXPECTED_ERRORS as exc:
        error = f"{peer.code}: {exc}"
        await asyncio.to_thread(
            record_failed, home, facts, session.own_size, max(session.peer_size, 0), error, type(exc).__name__
        )
        return outcome("failed", error)
    summary: RecordSummary | None = await asyncio.to_thread(record_completed, home, facts, session_input, result)
    return outcome(
        "completed",
        None,
        None if summary is None else summary.new_alerts,
        None if summary is None else summary.gone_alerts,
    )


def _prepare(home: NodeHome, suite: str, peer: Peer, facts: SessionFacts) -> tuple[SessionInput, int]:
    """Our elements for the session, and how many keys we still accept from ``peer`` today (-1: none)."""
    db = open_database(home)
    session_input = load_session_input(db, suite, facts.key_types)
    policy = peer.policy
    with transaction(db):
        used = keys_received_today(db, peer.code, facts.day)
        left = policy.daily_quota - used
        if left <= 0:
            return session_input, -1
        record_started(db, facts, 0)
    return session_input, min(policy.max_set_size, left)
