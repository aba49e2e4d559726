"""Opening a mutual-TLS channel to a configured peer (for the unary disclosure calls)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc

from node.config.settings import Peer
from node.core.errors import PeerFailed, peer_text
from node.core.home import NodeHome
from node.net.tls import channel_credentials

__all__ = ["CALL_TIMEOUT_S", "connected_or_failed", "describe_rpc_error", "peer_channel"]

CALL_TIMEOUT_S = 15.0


def describe_rpc_error(peer: Peer, error: grpc.aio.AioRpcError) -> str:
    code = error.code()
    if code is grpc.StatusCode.UNAVAILABLE:
        return (
            f"{peer.code} at {peer.address} is unreachable or refused the TLS handshake (is it serving, and "
            f"does each side pin the other's current certificate?): {peer_text(error.details())}"
        )
    return f"{peer.code} answered {code.name}: {peer_text(error.details())}"


async def connected_or_failed(channel: grpc.aio.Channel) -> None:
    """Wait until the channel is ready or its first attempt failed.

    ``channel_ready()`` would keep retrying a refused TLS handshake until the timeout, reporting the peer
    as silent; after a failed attempt the call below fails at once with UNAVAILABLE and says why.
    """
    state = channel.get_state(try_to_connect=True)
    while state not in (grpc.ChannelConnectivity.READY, grpc.ChannelConnectivity.TRANSIENT_FAILURE):
        await channel.wait_for_state_change(state)
        state = channel.get_state(try_to_connect=True)


@asynccontextmanager
async def peer_channel(home: NodeHome, peer: Peer) -> AsyncIterator[grpc.aio.Channel]:
    """A ready channel to ``peer``; PeerFailed if it cannot be reached within the timeout."""
    async with grpc.aio.secure_channel(str(peer.address), channel_credentials(home, peer)) as channel:
        try:
            await asyncio.wait_for(connected_or_failed(channel), CALL_TIMEOUT_S)
        except TimeoutError:
            raise PeerFailed(f"{peer.code} at {peer.address} did not answer within {CALL_TIMEOUT_S:.0f} s") from None
        yield channel
