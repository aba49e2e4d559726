"""Calling a peer's disclosure RPCs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import grpc

from crypto.certificates import load_private_key, sign
from node.config.settings import NodeConfig, Peer
from node.core.errors import PeerFailed
from node.core.home import NodeHome
from node.disclosure import RELEASE_CONTEXT
from node.net.channel import CALL_TIMEOUT_S, describe_rpc_error, peer_channel
from proto.casebridge.v1 import casebridge_pb2 as pb
from proto.casebridge.v1 import casebridge_pb2_grpc as pb_grpc

__all__ = ["deliver_decision", "deliver_denial", "deliver_release", "find_peer", "seal_release", "send_request"]

_Reply = TypeVar("_Reply")


def find_peer(config: NodeConfig, code: str) -> Peer:
    for peer in config.peers:
        if peer.code == code:
            return peer
    raise PeerFailed(f"{code} is no longer a configured peer; add it again with 'casebridge peers add'")


async def _call(home: NodeHome, peer: Peer, invoke: Callable[[Any], Any], reply_type: type[_Reply]) -> _Reply:
    """One unary call to ``peer``; any gRPC failure becomes a PeerFailed that says what happened."""
    try:
        async with peer_channel(home, peer) as channel:
            # The stub's type describes a sync channel; on an aio channel the call is awaited.
            reply = await invoke(pb_grpc.ExchangeStub(channel))
    except grpc.aio.AioRpcError as exc:
        reachable = exc.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
        raise PeerFailed(describe_rpc_error(peer, exc), transient=not reachable) from None
    if not isinstance(reply, reply_type):
        raise PeerFailed(f"{peer.code} answered with an unexpected message")
    return reply


async def send_request(home: NodeHome, peer: Peer, request: pb.DisclosureRequest) -> pb.DisclosureAck:
    return await _call(
        home, peer, lambda stub: stub.RequestDisclosure(request, timeout=CALL_TIMEOUT_S), pb.DisclosureAck
    )


async def deliver_release(home: NodeHome, peer: Peer, signed: pb.SignedRelease) -> pb.ReleaseAck:
    return await _call(home, peer, lambda stub: stub.DeliverRelease(signed, timeout=CALL_TIMEOUT_S), pb.ReleaseAck)


async def deliver_denial(home: NodeHome, peer: Peer, denial: pb.Denial) -> pb.DenialAck:
    return await _call(home, peer, lambda stub: stub.DeliverDenial(denial, timeout=CALL_TIMEOUT_S), pb.DenialAck)


def seal_release(home: NodeHome, release: pb.Release) -> pb.SignedRelease:
    """The release as it goes on the wire: serialized once and signed with this node's key."""
    payload = release.SerializeToString()
    signature = sign(load_private_key(home.tls_key.read_bytes()), RELEASE_CONTEXT, payload)
    return pb.SignedRelease(release=payload, signature=signature)


async def deliver_decision(
    home: NodeHome, peer: Peer, decision: pb.SignedRelease | pb.Denial
) -> pb.ReleaseAck | pb.DenialAck:
    """Send a stored owner's decision, whichever it is."""
    if isinstance(decision, pb.SignedRelease):
        return await deliver_release(home, peer, decision)
    return await deliver_denial(home, peer, decision)
