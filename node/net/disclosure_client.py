"""Calling a peer's disclosure RPCs."""

from __future__ import annotations

import grpc

from node.config import NodeConfig, Peer
from node.errors import PeerFailed
from node.home import NodeHome
from node.net.channel import CALL_TIMEOUT_S, describe_rpc_error, peer_channel
from proto.casebridge.v1 import casebridge_pb2 as pb
from proto.casebridge.v1 import casebridge_pb2_grpc as pb_grpc

__all__ = ["deliver_denial", "deliver_release", "find_peer", "send_request"]


def find_peer(config: NodeConfig, code: str) -> Peer:
    for peer in config.peers:
        if peer.code == code:
            return peer
    raise PeerFailed(f"{code} is no longer a configured peer; add it again with 'casebridge peers add'")


async def send_request(home: NodeHome, peer: Peer, request: pb.DisclosureRequest) -> pb.DisclosureAck:
    try:
        async with peer_channel(home, peer) as channel:
            reply: pb.DisclosureAck = await pb_grpc.ExchangeStub(channel).RequestDisclosure(
                request, timeout=CALL_TIMEOUT_S
            )
            return reply
    except grpc.aio.AioRpcError as exc:
        raise PeerFailed(describe_rpc_error(peer, exc)) from None


async def deliver_release(home: NodeHome, peer: Peer, signed: pb.SignedRelease) -> pb.ReleaseAck:
    try:
        async with peer_channel(home, peer) as channel:
            reply: pb.ReleaseAck = await pb_grpc.ExchangeStub(channel).DeliverRelease(signed, timeout=CALL_TIMEOUT_S)
            return reply
    except grpc.aio.AioRpcError as exc:
        raise PeerFailed(describe_rpc_error(peer, exc)) from None


async def deliver_denial(home: NodeHome, peer: Peer, denial: pb.Denial) -> pb.DenialAck:
    try:
        async with peer_channel(home, peer) as channel:
            reply: pb.DenialAck = await pb_grpc.ExchangeStub(channel).DeliverDenial(denial, timeout=CALL_TIMEOUT_S)
            return reply
    except grpc.aio.AioRpcError as exc:
        raise PeerFailed(describe_rpc_error(peer, exc)) from None
