"""The Exchange servicer: frames in, frames out, status codes at the edge.

The handler identifies the caller, reads the Open, and hands the session to
:class:`node.matching.runner.Responder`, which checks policy, runs it and records how it ended. A refusal
happens before any work on the caller's data and is written to the audit log. A peer reads the actionable
text of its own faults; a fault of ours reaches it only as a fixed, generic detail. A failing session never
affects another: each call has its own session object and its own transactions.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import grpc

from matcher.psi import Blinder, Message, blind_in_process
from node.config.settings import ConfigError, NodeConfig, Peer
from node.core.errors import EXPECTED_ERRORS, NotAPeer, PeerIdle
from node.matching import steps
from node.matching.admission import Admission, TooManySessions
from node.matching.driver import SESSION_IDLE_TIMEOUT_S
from node.matching.link import Ending, Opening
from node.matching.outcome import record_refused
from node.matching.runner import Responder
from node.net.disclosure_service import DisclosureRpcs
from node.net.peers import identify_caller
from node.net.status import GENERIC_DETAIL, peer_detail, status_for, status_name
from node.net.tls import ConfigWatch
from node.net.wire import decode, decode_open, encode, parse_frame
from proto.casebridge.v1 import casebridge_pb2 as pb
from proto.casebridge.v1 import casebridge_pb2_grpc as pb_grpc

__all__ = ["ExchangeService", "add_exchange_to_server"]

log = logging.getLogger("casebridge.server")

# Frames waiting to be written: enough to keep the stream busy, few enough to bound memory per session.
_QUEUE_FRAMES = 8
CONFIG_UNUSABLE = "the node cannot serve right now (its configuration is being changed); try again later"


class _ServerLink:
    """The session's messages as the frames of one Match call; the peer's bytes are parsed here."""

    def __init__(self, frames: AsyncIterator[bytes], outgoing: asyncio.Queue[pb.PsiFrame | None]) -> None:
        self._frames = frames
        self._outgoing = outgoing

    async def send(self, message: Message) -> None:
        await self._outgoing.put(encode(message))

    async def received(self) -> AsyncIterator[Message]:
        async for data in self._frames:
            yield decode(parse_frame(data))

    async def sent_all(self) -> None:
        return None  # the responder's stream ends with the call

    def cancel(self) -> None:
        return None  # the call itself is cancelled by the handler


class ExchangeService(DisclosureRpcs, pb_grpc.ExchangeServicer):
    def __init__(
        self, watch: ConfigWatch, blinder: Blinder = blind_in_process, idle_timeout: float = SESSION_IDLE_TIMEOUT_S
    ) -> None:
        self.watch = watch
        self.home = watch.home
        self.idle_timeout = idle_timeout
        # How sessions blind: on the session's thread, or spread over several threads (serve --workers).
        self.responder = Responder(self.home, status_name, blinder, idle_timeout)
        self.admission = Admission()

    # Match frames arrive as raw bytes (see add_exchange_to_server), not as the stub's PsiFrame.
    async def Match(  # type: ignore[override]
        self,
        request_iterator: AsyncIterator[bytes],
        context: grpc.aio.ServicerContext,  # type: ignore[type-arg]
    ) -> AsyncIterator[pb.PsiFrame]:
        caller = await self._caller(context)
        if caller is None:
            return
        config, peer = caller
        try:
            place = self.admission.session(peer.code, config.sessions)
            place.__enter__()
        except TooManySessions as exc:
            await self._refuse(peer.code, exc, context)
            return
        try:
            async for frame in self._session(config, peer, request_iterator, context):
                yield frame
        finally:
            place.__exit__(None, None, None)

    async def _session(
        self,
        config: NodeConfig,
        peer: Peer,
        request_iterator: AsyncIterator[bytes],
        context: grpc.aio.ServicerContext,  # type: ignore[type-arg]
    ) -> AsyncIterator[pb.PsiFrame]:
        opening = await self._open(peer, request_iterator, context)
        if opening is None:
            return
        outgoing: asyncio.Queue[pb.PsiFrame | None] = asyncio.Queue(maxsize=_QUEUE_FRAMES)

        async def run() -> Ending:
            try:
                return await self.responder.respond(config, peer, opening, _ServerLink(request_iterator, outgoing))
            finally:
                await outgoing.put(None)

        task = asyncio.ensure_future(run())
        try:
            while (frame := await outgoing.get()) is not None:
                yield frame
            ending = await task
        except asyncio.CancelledError:
            # The initiator went away: the runner records the cancellation before the call ends.
            task.cancel()
            await asyncio.wait({task})
            raise
        finally:
            if not task.done():
                task.cancel()
        if not ending.ok:
            await context.abort(grpc.StatusCode[ending.status], ending.detail)

    async def _caller(
        self,
        context: grpc.aio.ServicerContext,  # type: ignore[type-arg]
    ) -> tuple[NodeConfig, Peer] | None:
        """The config to judge the call by and the peer making it; None once the call was refused."""
        try:
            config = self.watch.get()
        except ConfigError:
            # The watch has logged and audited the broken file once; the peer learns only to retry.
            await context.abort(grpc.StatusCode.UNAVAILABLE, CONFIG_UNUSABLE)
            return None
        try:
            return config, identify_caller(context, config)
        except NotAPeer as exc:
            await steps.record(record_refused, self.home, peer=None, reason=str(exc), code="PERMISSION_DENIED")
            log.warning("refused a caller: %s", exc)
            await context.abort(status_for(exc), str(exc))
            return None

    async def _refuse(
        self,
        peer: str,
        exc: Exception,
        context: grpc.aio.ServicerContext,  # type: ignore[type-arg]
    ) -> None:
        await steps.record(record_refused, self.home, peer=peer, reason=str(exc), code=status_name(exc))
        log.warning("refused a session from %s: %s", peer, exc)
        await context.abort(status_for(exc), peer_detail(exc, GENERIC_DETAIL))

    async def _open(
        self,
        peer: Peer,
        frames: AsyncIterator[bytes],
        context: grpc.aio.ServicerContext,  # type: ignore[type-arg]
    ) -> Opening | None:
        """The peer's Open; None once the call was refused or ended before one arrived."""
        try:
            first = await asyncio.wait_for(anext(aiter(frames)), self.idle_timeout)
        except StopAsyncIteration:
            return None
        except TimeoutError:
            first = None
        return await self._opening(peer, first, context)

    async def _opening(
        self,
        peer: Peer,
        first: bytes | None,
        context: grpc.aio.ServicerContext,  # type: ignore[type-arg]
    ) -> Opening | None:
        try:
            if first is None:
                raise PeerIdle(f"{peer.code} opened a call and sent nothing for {self.idle_timeout:.0f} s")
            opened, header = decode_open(parse_frame(first))
            return Opening(opened, header.session_id, header.key_types, header.federation_proof)
        except EXPECTED_ERRORS as exc:
            await self._refuse(peer.code, exc, context)
            return None


def _raw(data: bytes) -> bytes:
    # Match frames are parsed inside the handler: bytes that are no PsiFrame are then the peer's protocol
    # error (INVALID_ARGUMENT, logged and audited) instead of a failure inside gRPC the peer hears as UNKNOWN.
    return data


def add_exchange_to_server(servicer: ExchangeService, server: grpc.aio.Server) -> None:
    """Register the Exchange service; Match reads raw bytes, the disclosure calls their messages."""
    handlers = {
        "Match": grpc.stream_stream_rpc_method_handler(
            servicer.Match, request_deserializer=_raw, response_serializer=pb.PsiFrame.SerializeToString
        ),
        "RequestDisclosure": grpc.unary_unary_rpc_method_handler(
            servicer.RequestDisclosure,
            request_deserializer=pb.DisclosureRequest.FromString,
            response_serializer=pb.DisclosureAck.SerializeToString,
        ),
        "DeliverRelease": grpc.unary_unary_rpc_method_handler(
            servicer.DeliverRelease,
            request_deserializer=pb.SignedRelease.FromString,
            response_serializer=pb.ReleaseAck.SerializeToString,
        ),
        "DeliverDenial": grpc.unary_unary_rpc_method_handler(
            servicer.DeliverDenial,
            request_deserializer=pb.Denial.FromString,
            response_serializer=pb.DenialAck.SerializeToString,
        ),
    }
    name = pb.DESCRIPTOR.services_by_name["Exchange"].full_name
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(name, handlers),))
    server.add_registered_method_handlers(name, handlers)  # type: ignore[attr-defined]
