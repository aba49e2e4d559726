"""A raw Exchange client for tests that need exact control over what goes on the wire."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc

from crypto import BlindingKey
from crypto.suite import suite_by_name
from matcher.psi import PROTOCOL_VERSION, Mode, Open
from node.net.wire import SessionHeader, encode
from proto.casebridge.v1 import casebridge_pb2 as pb
from proto.casebridge.v1 import casebridge_pb2_grpc as pb_grpc

__all__ = [
    "SUITE",
    "RawOutcome",
    "credentials",
    "open_channel",
    "open_frame",
    "raw_bytes_match",
    "raw_match",
    "stored_elements",
]

SUITE = "x25519-elligator2-sha512-v1"
ALL_KEY_TYPES = ("phone", "passport", "iban", "plate", "person-name-dob")


@dataclass(frozen=True)
class RawOutcome:
    code: grpc.StatusCode
    details: str
    received: tuple[pb.PsiFrame, ...]


def credentials(target_home: Path, caller_home: Path | None) -> grpc.ChannelCredentials:
    """Trust the target's certificate; present the caller's (none when ``caller_home`` is None)."""
    root = (target_home / "tls" / "node.crt").read_bytes()
    if caller_home is None:
        return grpc.ssl_channel_credentials(root_certificates=root)
    return grpc.ssl_channel_credentials(
        root_certificates=root,
        private_key=(caller_home / "tls" / "node.key").read_bytes(),
        certificate_chain=(caller_home / "tls" / "node.crt").read_bytes(),
    )


def open_channel(port: int, creds: grpc.ChannelCredentials) -> grpc.aio.Channel:
    # A private subchannel pool: a channel meant to make a fresh TLS handshake must not reuse a
    # connection another channel of this process already holds.
    return grpc.aio.secure_channel(f"127.0.0.1:{port}", creds, options=[("grpc.use_local_subchannel_pool", 1)])


def open_frame(
    set_size: int,
    key_types: Sequence[str] = ALL_KEY_TYPES,
    mode: Mode = Mode.MUTUAL,
    *,
    secret: bytes | None = None,
    session_id: bytes | None = None,
    protocol_version: int = PROTOCOL_VERSION,
) -> pb.PsiFrame:
    """An Open frame; its federation proof is made with ``secret`` (default: the test federation's)."""
    session_id = session_id or os.urandom(16)
    proof = suite_by_name(SUITE).federation_proof(secret or federation_secret(), session_id)
    public_key = BlindingKey.generate(os.urandom).public_key()
    opened = Open(SUITE, mode, set_size, public_key, protocol_version)
    return encode(opened, SessionHeader(session_id, tuple(key_types), proof))


_SECRET: list[bytes] = []


def use_federation_secret(secret: bytes) -> None:
    """Set by the fixtures once the test federation exists; raw Open frames prove they belong to it."""
    _SECRET[:] = [secret]


def federation_secret() -> bytes:
    assert _SECRET, "the federation fixture has not been built yet"
    return _SECRET[0]


def stored_elements(home: Path, count: int) -> list[bytes]:
    """Valid group elements (hash-to-group outputs the node stored at import)."""
    with sqlite3.connect(home / "casebridge.db") as conn:
        rows = conn.execute("SELECT element FROM match_keys ORDER BY id LIMIT ?", (count,)).fetchall()
    assert len(rows) == count
    return [bytes(r[0]) for r in rows]


async def raw_match(channel: grpc.aio.Channel, frames: Sequence[pb.PsiFrame], timeout: float = 15.0) -> RawOutcome:
    """Send ``frames``, half-close, read everything the node answers, and return how the call ended."""

    async def requests() -> AsyncIterator[pb.PsiFrame]:
        for frame in frames:
            yield frame

    call = pb_grpc.ExchangeStub(channel).Match(requests(), timeout=timeout)
    received: list[pb.PsiFrame] = []
    try:
        async for frame in call:
            received.append(frame)
    except grpc.aio.AioRpcError as exc:
        return RawOutcome(exc.code(), exc.details() or "", tuple(received))
    return RawOutcome(await call.code(), await call.details(), tuple(received))


async def connect(channel: grpc.aio.Channel, timeout: float = 10.0) -> bool:
    """Whether the channel completes its TLS handshake within ``timeout``."""
    try:
        await asyncio.wait_for(channel.channel_ready(), timeout)
    except TimeoutError:
        return False
    return True


async def raw_bytes_match(channel: grpc.aio.Channel, chunks: Sequence[bytes], timeout: float = 15.0) -> RawOutcome:
    """Like :func:`raw_match`, but each request message is the given bytes, valid ``PsiFrame`` or not."""

    async def requests() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    match = channel.stream_stream("/casebridge.v1.Exchange/Match", request_serializer=None, response_deserializer=None)
    call = match(requests(), timeout=timeout)
    received: list[pb.PsiFrame] = []
    try:
        async for data in call:
            received.append(pb.PsiFrame.FromString(data))
    except grpc.aio.AioRpcError as exc:
        return RawOutcome(exc.code(), exc.details() or "", tuple(received))
    return RawOutcome(await call.code(), await call.details(), tuple(received))
