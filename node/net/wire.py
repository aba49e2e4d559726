"""Conversion between the PSI session's messages and the ``casebridge.v1.PsiFrame`` protobuf.

The session core knows nothing of the wire; the Open frame carries two things only the node needs --
the session id and the key types the session covers -- so they travel beside the message as a
:class:`SessionHeader`.

Decoding trusts nothing: a frame with no known message, an unknown mode, an out-of-range size or a
malformed header raises :class:`~matcher.psi.RemoteProtocolError`, the peer's fault. Messages never echo
the peer's data back.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from google.protobuf.message import DecodeError

from matcher.psi import Accept, Elements, Message, Mode, Open, RemoteProtocolError, Result, Tags
from matcher.psi.epoch import EPOCH_ID_LENGTH
from node.core.errors import LocalError
from proto.casebridge.v1 import casebridge_pb2 as pb

__all__ = [
    "FEDERATION_PROOF_LENGTH",
    "MAX_ANNOUNCED_SET_SIZE",
    "SESSION_ID_LENGTH",
    "SessionHeader",
    "decode",
    "decode_open",
    "encode",
    "parse_frame",
]

SESSION_ID_LENGTH = 16
FEDERATION_PROOF_LENGTH = 32
# Far beyond any policy's limit but small enough that arithmetic on it stays exact everywhere; a larger
# value (or a negative one sent as a 64-bit varint, which arrives as nearly 2^64) is malformed, not big.
MAX_ANNOUNCED_SET_SIZE = 2**40
_MAX_KEY_TYPES = 64
_KEY_TYPE = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
_MAX_TAG_LENGTH = 64
_POSITION_BYTES = 4
_MAX_VERSION = 2**16
_SUITE_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{0,63}$")

_MODE_TO_WIRE = {Mode.MUTUAL: pb.MODE_MUTUAL, Mode.COUNT_ONLY: pb.MODE_COUNT_ONLY}
_MODE_FROM_WIRE = {wire: mode for mode, wire in _MODE_TO_WIRE.items()}


@dataclass(frozen=True)
class SessionHeader:
    """What an Open frame carries beyond :class:`~matcher.psi.Open`."""

    session_id: bytes
    key_types: tuple[str, ...]
    federation_proof: bytes = b""


def encode(message: Message, header: SessionHeader | None = None) -> pb.PsiFrame:
    """The frame for ``message``; an Open needs its ``header`` (and nothing else takes one)."""
    if isinstance(message, Open):
        if header is None:
            raise LocalError("an Open frame needs the session header (session id and key types)")
        _check_header(header, LocalError)
        return pb.PsiFrame(
            open=pb.Open(
                suite=message.suite,
                mode=_MODE_TO_WIRE[message.mode],
                set_size=message.set_size,
                key_types=list(header.key_types),
                session_id=header.session_id,
                federation_proof=header.federation_proof,
                protocol_version=message.protocol_version,
                public_key=message.public_key,
                epoch_id=message.epoch_id,
                delta=message.delta,
                removed=_positions_blob(message.removed),
                epoch_round=message.epoch_round,
            )
        )
    if header is not None:
        raise LocalError("only an Open frame carries a session header")
    if isinstance(message, Accept):
        return pb.PsiFrame(
            accept=pb.Accept(
                suite=message.suite,
                mode=_MODE_TO_WIRE[message.mode],
                set_size=message.set_size,
                tag_length=message.tag_length,
                protocol_version=message.protocol_version,
                epoch_kept=message.epoch_kept,
            )
        )
    if isinstance(message, Elements):
        return pb.PsiFrame(elements=pb.Elements(data=message.data))
    if isinstance(message, Result):
        return pb.PsiFrame(
            result=pb.Result(
                intersection_size=message.intersection_size,
                positions=_positions_blob(message.positions),
                dropped=_positions_blob(message.dropped),
            )
        )
    return pb.PsiFrame(tags=pb.Tags(data=message.data))


def parse_frame(data: bytes) -> pb.PsiFrame:
    """The frame in the bytes a peer sent; bytes that are no ``PsiFrame`` are the peer's protocol error."""
    try:
        return pb.PsiFrame.FromString(data)
    except (DecodeError, RuntimeError, ValueError):
        raise RemoteProtocolError("the peer sent bytes that are not a session frame") from None


def decode(frame: pb.PsiFrame) -> Message:
    """The session message in ``frame`` (an Open's header is validated, then dropped)."""
    kind = frame.WhichOneof("frame")
    if kind == "open":
        return decode_open(frame)[0]
    if kind == "accept":
        accept = frame.accept
        return Accept(
            suite=_suite(accept.suite),
            mode=_mode(accept.mode),
            set_size=_set_size(accept.set_size),
            tag_length=_tag_length(accept.tag_length),
            protocol_version=_version(accept.protocol_version),
            epoch_kept=accept.epoch_kept,
        )
    if kind == "elements":
        return Elements(data=frame.elements.data)
    if kind == "tags":
        return Tags(data=frame.tags.data)
    if kind == "result":
        return _result(frame.result)
    raise RemoteProtocolError("the peer sent a frame with no known message")


def decode_open(frame: pb.PsiFrame) -> tuple[Open, SessionHeader]:
    """The first frame of a session: an Open and its header; anything else is a protocol error."""
    if frame.WhichOneof("frame") != "open":
        raise RemoteProtocolError("the peer's first frame is not an Open")
    opened = frame.open
    message = Open(
        suite=_suite(opened.suite),
        mode=_mode(opened.mode),
        set_size=_set_size(opened.set_size),
        public_key=bytes(opened.public_key),
        protocol_version=_version(opened.protocol_version),
        epoch_id=_epoch_id(bytes(opened.epoch_id)),
        delta=opened.delta,
        removed=_positions(opened.removed, "withdrawn"),
        epoch_round=opened.epoch_round,
    )
    if message.delta and not message.epoch_id:
        raise RemoteProtocolError("a delta session names the epoch it continues")
    if message.delta != (message.epoch_round > 0):
        raise RemoteProtocolError("a delta session, and only a delta, counts the epoch's rounds")
    header = SessionHeader(
        session_id=bytes(opened.session_id),
        key_types=tuple(opened.key_types),
        federation_proof=bytes(opened.federation_proof),
    )
    _check_header(header, RemoteProtocolError)
    return message, header


def _suite(name: str) -> str:
    # Suite names are short identifiers (``<group>-<hash>-v1``); anything else is malformed, and is never
    # carried further into errors or logs.
    if not _SUITE_NAME.fullmatch(name):
        raise RemoteProtocolError("the peer sent a malformed suite name")
    return name


def _mode(value: pb.Mode.ValueType) -> Mode:
    try:
        return _MODE_FROM_WIRE[value]
    except KeyError:
        raise RemoteProtocolError("the peer sent an unknown mode") from None


def _set_size(value: int) -> int:
    if not 0 <= value <= MAX_ANNOUNCED_SET_SIZE:
        raise RemoteProtocolError("the peer announced an impossible set size")
    return value


def _tag_length(value: int) -> int:
    if not 1 <= value <= _MAX_TAG_LENGTH:
        raise RemoteProtocolError("the peer chose an impossible tag length")
    return value


def _version(value: int) -> int:
    if not 0 <= value < _MAX_VERSION:
        raise RemoteProtocolError("the peer sent an impossible protocol version")
    return value


def _result(result: pb.Result) -> Result:
    return Result(
        intersection_size=_set_size(result.intersection_size),
        positions=_positions(result.positions, "result"),
        dropped=_positions(result.dropped, "dropped"),
    )


def _positions_blob(positions: tuple[int, ...]) -> bytes:
    return b"".join(p.to_bytes(_POSITION_BYTES, "big") for p in positions)


def _positions(blob: bytes, what: str) -> tuple[int, ...]:
    if len(blob) % _POSITION_BYTES:
        raise RemoteProtocolError(f"{what} positions are {_POSITION_BYTES}-byte numbers")
    positions = tuple(
        int.from_bytes(blob[i : i + _POSITION_BYTES], "big") for i in range(0, len(blob), _POSITION_BYTES)
    )
    if any(b <= a for a, b in itertools.pairwise(positions)):
        raise RemoteProtocolError(f"{what} positions must be strictly ascending")
    return positions


def _epoch_id(value: bytes) -> bytes:
    if value and len(value) != EPOCH_ID_LENGTH:
        raise RemoteProtocolError(f"an epoch id is {EPOCH_ID_LENGTH} bytes")
    return value


def _check_header(header: SessionHeader, error: type[LocalError] | type[RemoteProtocolError]) -> None:
    if len(header.session_id) != SESSION_ID_LENGTH:
        raise error(f"a session id is {SESSION_ID_LENGTH} bytes")
    if len(header.federation_proof) != FEDERATION_PROOF_LENGTH:
        raise error(f"a federation proof is {FEDERATION_PROOF_LENGTH} bytes")
    if not header.key_types or len(header.key_types) > _MAX_KEY_TYPES:
        raise error(f"a session covers 1 to {_MAX_KEY_TYPES} key types")
    if len(set(header.key_types)) != len(header.key_types):
        raise error("a session lists a key type twice")
    if not all(_KEY_TYPE.fullmatch(key_type) for key_type in header.key_types):
        raise error("a session lists a malformed key type name")
