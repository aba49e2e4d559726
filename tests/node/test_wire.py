"""PSI messages to protobuf frames and back; malformed frames are the peer's protocol error."""

from __future__ import annotations

import pytest

from matcher.psi import Accept, Elements, Message, Mode, Open, RemoteProtocolError, Result, Tags
from node.core.errors import LocalError
from node.net.wire import SessionHeader, decode, decode_open, encode
from proto.casebridge.v1 import casebridge_pb2 as pb

SUITE = "x25519-elligator2-sha512-v1"
HEADER = SessionHeader(session_id=bytes(range(16)), key_types=("phone", "passport"), federation_proof=bytes(32))


def _over_the_wire(frame: pb.PsiFrame) -> pb.PsiFrame:
    return pb.PsiFrame.FromString(frame.SerializeToString())


@pytest.mark.parametrize("mode", list(Mode))
def test_open_round_trips_with_its_header(mode: Mode) -> None:
    message = Open(suite=SUITE, mode=mode, set_size=1234, public_key=bytes(range(32)))
    frame = _over_the_wire(encode(message, HEADER))
    assert decode_open(frame) == (message, HEADER)
    assert decode(frame) == message


@pytest.mark.parametrize(
    "message",
    [
        Accept(suite=SUITE, mode=Mode.MUTUAL, set_size=0, tag_length=12),
        Accept(suite=SUITE, mode=Mode.COUNT_ONLY, set_size=10**9, tag_length=32),
        Elements(data=bytes(range(64))),
        Tags(data=b"\x01" * 24),
        Elements(data=b""),
        Result(intersection_size=0),
        Result(intersection_size=3, positions=(0, 255, 2**32 - 1)),
        Result(intersection_size=7),
    ],
)
def test_other_messages_round_trip(message: Message) -> None:
    assert decode(_over_the_wire(encode(message))) == message


def test_open_needs_a_header_and_nothing_else_takes_one() -> None:
    with pytest.raises(LocalError):
        encode(Open(suite=SUITE, mode=Mode.MUTUAL, set_size=1))
    with pytest.raises(LocalError):
        encode(Tags(data=b""), HEADER)
    with pytest.raises(LocalError):
        encode(Open(suite=SUITE, mode=Mode.MUTUAL, set_size=1), SessionHeader(b"short", ("phone",), bytes(32)))


def _open(**fields: object) -> pb.PsiFrame:
    values: dict[str, object] = {
        "suite": SUITE,
        "mode": pb.MODE_MUTUAL,
        "set_size": 10,
        "key_types": ["phone"],
        "session_id": bytes(16),
        "federation_proof": bytes(32),
    }
    values.update(fields)
    return pb.PsiFrame(open=pb.Open(**values))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param(pb.PsiFrame(), id="empty frame"),
        pytest.param(pb.PsiFrame.FromString(b"\x48\x01"), id="unknown oneof member"),
        pytest.param(_open(mode=pb.MODE_UNSPECIFIED), id="unspecified mode"),
        pytest.param(_open(mode=7), id="unknown mode number"),
        # A negative 64-bit size is the same varint as 2^64 - 1.
        pytest.param(_open(set_size=2**64 - 1), id="negative set size"),
        pytest.param(_open(session_id=b"\x00" * 15), id="short session id"),
        pytest.param(_open(key_types=[]), id="no key types"),
        pytest.param(_open(key_types=["phone", "phone"]), id="duplicate key type"),
        pytest.param(_open(key_types=["Phone!"]), id="malformed key type"),
        pytest.param(_open(federation_proof=b""), id="no federation proof"),
        pytest.param(_open(suite="x" * 100_000), id="oversized suite name"),
        pytest.param(_open(suite="suite\nwith a line break"), id="suite name with control characters"),
        pytest.param(
            pb.PsiFrame(accept=pb.Accept(suite=SUITE, mode=pb.MODE_MUTUAL, set_size=1, tag_length=0)),
            id="zero tag length",
        ),
        pytest.param(
            pb.PsiFrame(accept=pb.Accept(suite=SUITE, mode=9, set_size=1, tag_length=8)),  # type: ignore[arg-type]
            id="accept with unknown mode",
        ),
        pytest.param(
            pb.PsiFrame(accept=pb.Accept(suite=SUITE, mode=pb.MODE_MUTUAL, set_size=2**63, tag_length=8)),
            id="accept with impossible size",
        ),
        pytest.param(
            pb.PsiFrame(
                accept=pb.Accept(suite=SUITE, mode=pb.MODE_MUTUAL, set_size=1, tag_length=8, protocol_version=2**20)
            ),
            id="accept with impossible version",
        ),
        pytest.param(pb.PsiFrame(result=pb.Result(intersection_size=1, positions=b"\x00" * 5)), id="ragged positions"),
        pytest.param(
            pb.PsiFrame(result=pb.Result(intersection_size=2, positions=bytes(3) + b"\x01" + bytes(4))),
            id="result positions out of order",
        ),
        pytest.param(
            pb.PsiFrame(result=pb.Result(intersection_size=2, positions=bytes(8))), id="result position twice"
        ),
        pytest.param(pb.PsiFrame(result=pb.Result(intersection_size=2**63)), id="result with impossible size"),
    ],
)
def test_malformed_frames_are_remote_protocol_errors(frame: pb.PsiFrame) -> None:
    with pytest.raises(RemoteProtocolError):
        decode(_over_the_wire(frame))


def test_a_well_formed_open_decodes() -> None:
    """The malformed cases above differ from this frame in one field each."""
    opened, header = decode_open(_over_the_wire(_open(protocol_version=2)))
    assert (opened.set_size, header.key_types, opened.protocol_version) == (10, ("phone",), 2)


def test_result_positions_are_four_byte_big_endian_numbers() -> None:
    frame = encode(Result(intersection_size=2, positions=(1, 258)))
    assert frame.result.positions == bytes.fromhex("0000000100000102")


def test_a_version_one_open_reads_as_version_zero_and_is_left_to_the_session_to_refuse() -> None:
    opened, _ = decode_open(_over_the_wire(_open()))
    assert opened.protocol_version == 0


def test_a_session_must_start_with_open() -> None:
    with pytest.raises(RemoteProtocolError):
        decode_open(encode(Tags(data=b"")))


def test_epoch_fields_round_trip() -> None:
    opening = Open(SUITE, Mode.MUTUAL, 40, bytes(range(32)), epoch_id=b"\x11" * 16, delta=True, removed=(2, 9, 70_000),
                   epoch_round=3)  # fmt: skip
    assert decode_open(_over_the_wire(encode(opening, HEADER))) == (opening, HEADER)
    full = Open(SUITE, Mode.MUTUAL, 40, bytes(range(32)), epoch_id=b"\x11" * 16)
    assert decode(_over_the_wire(encode(full, HEADER))) == full
    accept = Accept(SUITE, Mode.MUTUAL, 5, 11, epoch_kept=True)
    assert decode(_over_the_wire(encode(accept))) == accept
    result = Result(4, positions=(1, 8), dropped=(0, 3, 2**32 - 1))
    assert decode(_over_the_wire(encode(result))) == result


def _open_frame(**fields: object) -> pb.PsiFrame:
    frame = encode(Open(SUITE, Mode.MUTUAL, 1, bytes(32)), HEADER)
    for name, value in fields.items():
        setattr(frame.open, name, value)
    return _over_the_wire(frame)


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"epoch_id": b"\x01" * 15}, "an epoch id is 16 bytes"),
        ({"delta": True}, "names the epoch it continues"),
        ({"epoch_id": b"\x01" * 16, "delta": True, "removed": b"\x00\x00\x00"}, "withdrawn positions are 4-byte"),
        ({"epoch_id": b"\x01" * 16, "delta": True, "removed": bytes([0, 0, 0, 5, 0, 0, 0, 5])}, "strictly ascending"),
        ({"epoch_id": b"\x01" * 16, "delta": True}, "only a delta, counts the epoch's rounds"),
        ({"epoch_id": b"\x01" * 16, "epoch_round": 2}, "only a delta, counts the epoch's rounds"),
    ],
    ids=[
        "short-epoch-id",
        "delta-without-epoch",
        "partial-position",
        "repeated-position",
        "delta-without-round",
        "round-without-delta",
    ],
)
def test_malformed_epoch_fields_are_the_peers_protocol_error(fields: dict[str, object], match: str) -> None:
    with pytest.raises(RemoteProtocolError, match=match):
        decode_open(_open_frame(**fields))


def test_a_result_dropping_positions_out_of_order_is_refused() -> None:
    frame = pb.PsiFrame(result=pb.Result(intersection_size=0, dropped=bytes([0, 0, 0, 7, 0, 0, 0, 2])))
    with pytest.raises(RemoteProtocolError, match="dropped positions must be strictly ascending"):
        decode(_over_the_wire(frame))
