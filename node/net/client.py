"""The initiating side of a PSI session over gRPC (``casebridge match``).

Only frames and status codes live here: the session itself runs in :func:`node.matching.runner.initiate`,
which this module hands a link to the peer.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import grpc

from crypto.certificates import load_certificate
from matcher.psi import Blinder, Message, Mode, PsiSession, blind_in_process
from node.config.settings import NodeConfig, Peer
from node.core.clock import now
from node.core.errors import EXPECTED_ERRORS, peer_text
from node.core.home import NodeHome
from node.matching.link import Connect, Link, LinkBroken, Opening
from node.matching.runner import PeerOutcome, initiate
from node.net.channel import connected_or_failed
from node.net.server import MAX_MESSAGE_BYTES
from node.net.status import status_name
from node.net.tls import channel_credentials
from node.net.wire import SessionHeader, decode, encode
from proto.casebridge.v1 import casebridge_pb2 as pb
from proto.casebridge.v1 import casebridge_pb2_grpc as pb_grpc

__all__ = ["CONNECT_TIMEOUT_S", "PeerOutcome", "connector", "match_peer"]

CONNECT_TIMEOUT_S = 10.0
_QUEUE_FRAMES = 8
OnFrame = Callable[[int], None]


def _describe(error: grpc.aio.AioRpcError, mid_session: bool) -> str:
    code = error.code()
    if code is grpc.StatusCode.UNAVAILABLE and mid_session:
        return f"the peer went away mid-session (connection lost): {peer_text(error.details())}"
    if code is grpc.StatusCode.UNAVAILABLE:
        return (
            "unreachable or the TLS handshake failed (is it serving, and does each side pin the other's "
            f"current certificate?): {peer_text(error.details())}"
        )
    return f"{code.name}: {peer_text(error.details())}"


class _GrpcLink:
    """The session's messages as Match frames on one call."""

    def __init__(self, call: grpc.aio.StreamStreamCall, outgoing: asyncio.Queue[pb.PsiFrame | None],  # type: ignore[type-arg]
                 on_frame: OnFrame | None) -> None:  # fmt: skip
        self._call = call
        self._outgoing = outgoing
        self._on_frame = on_frame
        self._received = 0

    async def send(self, message: Message) -> None:
        await self._outgoing.put(encode(message))

    async def received(self) -> AsyncIterator[Message]:
        try:
            async for frame in self._call:
                if self._on_frame is not None:
                    self._on_frame(frame.ByteSize())
                self._received += 1
                yield decode(frame)
        except grpc.aio.AioRpcError as exc:
            # Once the peer answered, a lost connection is the peer gone, not a refused handshake.
            raise LinkBroken(_describe(exc, self._received > 0), exc.code().name) from None

    async def sent_all(self) -> None:
        await self._outgoing.put(None)

    def cancel(self) -> None:
        self._call.cancel()


def _pinned_certificate_expired(peer: Peer) -> str | None:
    """Why the handshake cannot succeed before trying it: the certificate pinned for ``peer`` expired.

    Without this, the expiry would read as an unreachable peer or a refused handshake.
    """
    try:
        cert = load_certificate(peer.certificate.read_bytes())
    except OSError:
        return None  # the handshake reports it
    except EXPECTED_ERRORS:
        return None
    if cert.not_valid_after_utc < now():
        return (
            f"the certificate pinned for {peer.code} expired on {cert.not_valid_after_utc:%Y-%m-%d}; "
            "pin its current certificate ('casebridge peers remove', then 'casebridge peers add')"
        )
    return None


def connector(home: NodeHome, peer: Peer, on_frame: OnFrame | None = None) -> Connect:
    """How the runner reaches ``peer``: a mutual-TLS channel and one Match call."""
    options = [
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ]

    @asynccontextmanager
    async def connect(opening: Opening) -> AsyncIterator[Link]:
        expired = _pinned_certificate_expired(peer)
        if expired is not None:
            raise LinkBroken(expired, "FAILED_PRECONDITION")
        async with grpc.aio.secure_channel(str(peer.address), channel_credentials(home, peer), options) as channel:
            try:
                await asyncio.wait_for(connected_or_failed(channel), CONNECT_TIMEOUT_S)
            except TimeoutError:
                raise LinkBroken(f"at {peer.address!s} did not answer within {CONNECT_TIMEOUT_S:.0f} s",
                                 "UNAVAILABLE") from None  # fmt: skip
            outgoing: asyncio.Queue[pb.PsiFrame | None] = asyncio.Queue(maxsize=_QUEUE_FRAMES)
            header = SessionHeader(opening.session_id, opening.key_types, opening.federation_proof)
            await outgoing.put(encode(opening.message, header))

            async def requests() -> AsyncIterator[pb.PsiFrame]:
                while (frame := await outgoing.get()) is not None:
                    if on_frame is not None:
                        on_frame(frame.ByteSize())
                    yield frame

            try:
                yield _GrpcLink(pb_grpc.ExchangeStub(channel).Match(requests()), outgoing, on_frame)
            finally:
                # A call that ended while we still had frames to send leaves gRPC's request reader waiting on
                # the queue: the end marker lets it finish now rather than at collection, after the loop.
                with contextlib.suppress(asyncio.QueueFull):
                    outgoing.put_nowait(None)

    return connect


async def match_peer(
    home: NodeHome,
    config: NodeConfig,
    peer: Peer,
    mode: Mode,
    progress: Callable[[PsiSession], None] | None = None,
    on_frame: OnFrame | None = None,
    blinder: Blinder = blind_in_process,
) -> PeerOutcome:
    """Run one session with ``peer`` and record its outcome; failures are returned, not raised.

    ``on_frame`` receives the serialized size of every frame sent or received (``casebridge bench``
    reports the bytes that really crossed).
    """
    return await initiate(home, config, peer, mode, connector(home, peer, on_frame), status_name, progress, blinder)
