"""The test vectors printed in docs/protocol.md, recomputed line by line.

A partner implements from that page; a vector that drifted from the code would send it down a wrong path
that silently matches nothing. Each value is recomputed here, the byte layouts independently of the
implementation's helpers where that is cheap (HMAC inputs built from the documented layout).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from pathlib import Path

import pytest

from crypto import DEFAULT_SUITE, BlindingKey, pair_handle, tag_length_for, tags_of
from matcher.identifiers import Identifier, normalize_identifier
from matcher.psi import CANARIES, Accept, Mode, Open, Result
from matcher.psi.epoch import epoch_terms
from node.net import wire
from proto.casebridge.v1 import casebridge_pb2 as pb

PROTOCOL = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


def _lp(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def _vector_groups() -> list[dict[str, str]]:
    text = PROTOCOL.read_text(encoding="utf-8")
    blocks = re.findall(r"^```vectors\n(.*?)^```", text, flags=re.S | re.M)
    assert len(blocks) == 1, "docs/protocol.md holds one vectors block"
    groups: list[dict[str, str]] = [{}]
    for number, line in enumerate(blocks[0].splitlines(), 1):
        if not line.strip():
            groups.append({})
            continue
        name, sep, value = line.rpartition("=")  # names may hold "=", values never do
        assert sep, f"vectors line {number} has no '='"
        assert name.strip() not in groups[-1], f"vectors line {number} repeats {name.strip()!r}"
        groups[-1][name.strip()] = value.strip()
    return [g for g in groups if g]


GROUPS = _vector_groups()
COMMON = GROUPS[0]
KEYS = [g for g in GROUPS if "canonical value" in g]
CANARY = next(g for g in GROUPS if "canary r·G" in g)
FRAMES = next(g for g in GROUPS if "Open frame" in g)
EPOCH = next(g for g in GROUPS if "epoch id" in g)
SECRET = bytes.fromhex(COMMON["federation secret"])
A = BlindingKey(bytes.fromhex(COMMON["initiator scalar a"]))
B = BlindingKey(bytes.fromhex(COMMON["responder scalar b"]))
TAG_LENGTH = tag_length_for(100_000, 100_000 + CANARIES)


def test_the_block_covers_what_a_partner_needs() -> None:
    assert len(KEYS) >= 2
    for group in KEYS:
        assert set(group) >= {"key type", "canonical value", "keyed-hash input", "keyed hash", "element H",
                              "a·H", "b·H", "a·b·H", "tag length", "tag", "handle DE-BKA / NL-NP"}  # fmt: skip


def test_suite_dst_and_public_keys() -> None:
    assert COMMON["suite"] == DEFAULT_SUITE.name
    assert COMMON["dst"].encode() == DEFAULT_SUITE.dst
    assert bytes.fromhex(COMMON["A = a·G"]) == A.public_key()
    assert bytes.fromhex(COMMON["B = b·G"]) == B.public_key()


@pytest.mark.parametrize("group", KEYS, ids=[g["key type"] for g in KEYS])
def test_identifier_to_handle(group: dict[str, str]) -> None:
    identifier = Identifier(group["identifier type"], group["identifier as recorded"], region=group.get("region"))
    key = normalize_identifier(identifier).keys[0]
    assert (key.key_type, key.value) == (group["key type"], group["canonical value"])

    layout = _lp(DEFAULT_SUITE.name.encode()) + _lp(key.key_type.encode()) + _lp(key.value.encode())
    assert bytes.fromhex(group["keyed-hash input"]) == layout
    keyed = hmac.digest(SECRET, layout, "sha512")
    assert bytes.fromhex(group["keyed hash"]) == keyed == DEFAULT_SUITE.keyed_hash(SECRET, key.key_type, key.value)

    element = DEFAULT_SUITE.hash_keys(SECRET, [(key.key_type, key.value)])[0]
    assert bytes.fromhex(group["element H"]) == element

    a_h, b_h = A.blind([element])[0], B.blind([element])[0]
    assert bytes.fromhex(group["a·H"]) == a_h
    assert bytes.fromhex(group["b·H"]) == b_h
    both = bytes.fromhex(group["a·b·H"])
    assert both == A.blind([b_h])[0] == B.blind([a_h])[0]

    assert int(group["tag length"]) == TAG_LENGTH
    tag = hashlib.blake2b(both, digest_size=TAG_LENGTH, person=b"cb-psi-tag-v1").digest()
    assert bytes.fromhex(group["tag"]) == tag == tags_of([both], TAG_LENGTH)[0]

    handle = hmac.digest(element, _lp(b"casebridge-handle-v2") + _lp(b"DE-BKA") + _lp(b"NL-NP"), "sha256")[:16]
    assert bytes.fromhex(group["handle DE-BKA / NL-NP"]) == handle == pair_handle(element, "NL-NP", "DE-BKA")
    assert pair_handle(element, "DE-BKA", "NL-NP") == handle


def test_canary_and_its_honest_answer() -> None:
    r = BlindingKey(bytes.fromhex(CANARY["canary scalar r"]))
    canary = bytes.fromhex(CANARY["canary r·G"])
    assert canary == r.public_key()
    answer = bytes.fromhex(CANARY["honest answer a·r·G"])
    assert answer == A.blind([canary])[0] == r.blind([A.public_key()])[0]
    assert bytes.fromhex(CANARY["canary tag"]) == tags_of([answer], TAG_LENGTH)[0]


def test_federation_proof() -> None:
    session_id = bytes.fromhex(FRAMES["session id"])
    layout = _lp(b"casebridge-federation-proof") + _lp(DEFAULT_SUITE.name.encode()) + _lp(session_id)
    assert bytes.fromhex(FRAMES["federation proof input"]) == layout
    proof = hmac.digest(SECRET, layout, "sha256")
    assert bytes.fromhex(FRAMES["federation proof"]) == proof == DEFAULT_SUITE.federation_proof(SECRET, session_id)


def test_frames() -> None:
    session_id = bytes.fromhex(FRAMES["session id"])
    proof = bytes.fromhex(FRAMES["federation proof"])
    opened = Open(DEFAULT_SUITE.name, Mode.MUTUAL, 100_000, A.public_key())
    header = wire.SessionHeader(session_id, ("phone", "iban"), proof)
    frame = bytes.fromhex(FRAMES["Open frame"])
    assert wire.encode(opened, header).SerializeToString() == frame
    assert wire.decode_open(wire.parse_frame(frame)) == (opened, header)
    parsed = pb.PsiFrame.FromString(frame).open
    assert (parsed.protocol_version, parsed.mode, parsed.set_size) == (2, pb.MODE_MUTUAL, 100_000)

    accepted = Accept(DEFAULT_SUITE.name, Mode.MUTUAL, 100_000, TAG_LENGTH)
    frame = bytes.fromhex(FRAMES["Accept frame"])
    assert wire.encode(accepted).SerializeToString() == frame
    assert wire.decode(wire.parse_frame(frame)) == accepted

    result = Result(3, (0, 5, 70_000))
    frame = bytes.fromhex(FRAMES["Result frame"])
    assert wire.encode(result).SerializeToString() == frame
    assert wire.decode(wire.parse_frame(frame)) == result
    assert pb.PsiFrame.FromString(frame).result.positions == b"".join(p.to_bytes(4, "big") for p in (0, 5, 70_000))


def _sizes_and_tag_lengths(heading: str) -> list[tuple[int, int, int]]:
    """The (|X|, |Y|) → t pairs of the paragraph of docs/protocol.md that starts with ``heading`` (a regex)."""
    text = PROTOCOL.read_text(encoding="utf-8")
    line = re.search(heading + r".*?:(.*?)\n\n", text, flags=re.S)
    assert line is not None
    pairs = re.findall(r"\(([\d,]+), ([\d,]+)\) → (\d+)", line.group(1))
    assert len(pairs) >= 4
    return [(int(x.replace(",", "")), int(y.replace(",", "")), int(t)) for x, y, t in pairs]


def test_tag_lengths_in_the_text() -> None:
    for x, y, t in _sizes_and_tag_lengths(r"Tag lengths for announced sizes \(\|X\|, \|Y\|\)"):
        assert tag_length_for(x, y + CANARIES) == t


def _epoch_tag_length(x: int, y: int) -> int:
    """The documented formula, written out: capacities 2 * max(n, 1000), then the plain formula over them."""
    cap_x, cap_y = 2 * max(x, 1000), 2 * max(y, 1000)
    bits = (max(1, cap_x) * (cap_y + CANARIES)).bit_length()
    return min(32, max(8, -(-(bits + 40) // 8)))


def test_epoch_terms_and_frames() -> None:
    epoch_id = bytes.fromhex(EPOCH["epoch id"])
    terms = epoch_terms(epoch_id, 100_000, 100_000)
    assert EPOCH["epoch capacities"].split() == [str(terms.initiator_capacity), str(terms.responder_capacity)]
    assert int(EPOCH["epoch tag length"]) == terms.tag_length == _epoch_tag_length(100_000, 100_000)
    header = wire.SessionHeader(
        bytes.fromhex(FRAMES["session id"]), ("phone", "iban"), bytes.fromhex(FRAMES["federation proof"])
    )
    full = Open(DEFAULT_SUITE.name, Mode.MUTUAL, 100_000, A.public_key(), epoch_id=epoch_id)
    frame = bytes.fromhex(EPOCH["epoch full Open frame"])
    assert wire.encode(full, header).SerializeToString() == frame
    assert wire.decode_open(wire.parse_frame(frame)) == (full, header)
    kept = Accept(DEFAULT_SUITE.name, Mode.MUTUAL, 100_000, terms.tag_length, epoch_kept=True)
    assert wire.encode(kept).SerializeToString() == bytes.fromhex(EPOCH["epoch full Accept frame"])

    session_id = bytes.fromhex(EPOCH["delta session id"])
    layout = _lp(b"casebridge-federation-proof") + _lp(DEFAULT_SUITE.name.encode()) + _lp(session_id)
    proof = hmac.digest(SECRET, layout, "sha256")
    assert bytes.fromhex(EPOCH["delta federation proof"]) == proof
    delta = Open(DEFAULT_SUITE.name, Mode.MUTUAL, 1000, A.public_key(), epoch_id=epoch_id, delta=True,
                 removed=(7, 99_999), epoch_round=1)  # fmt: skip
    frame = bytes.fromhex(EPOCH["delta Open frame"])
    assert wire.encode(delta, wire.SessionHeader(session_id, ("phone", "iban"), proof)).SerializeToString() == frame
    parsed = pb.PsiFrame.FromString(frame).open
    assert (parsed.delta, parsed.epoch_round, parsed.epoch_id) == (True, 1, epoch_id)
    assert parsed.removed == (7).to_bytes(4, "big") + (99_999).to_bytes(4, "big")
    accepted = Accept(DEFAULT_SUITE.name, Mode.MUTUAL, 1000, terms.tag_length, epoch_kept=True)
    frame = bytes.fromhex(EPOCH["delta Accept frame"])
    assert wire.encode(accepted).SerializeToString() == frame
    assert wire.decode(wire.parse_frame(frame)) == accepted
    result = Result(4, (100_000, 100_001), (5,))
    frame = bytes.fromhex(EPOCH["delta Result frame"])
    assert wire.encode(result).SerializeToString() == frame
    assert wire.decode(wire.parse_frame(frame)) == result
    assert pb.PsiFrame.FromString(frame).result.dropped == (5).to_bytes(4, "big")


def test_epoch_tag_lengths_in_the_text() -> None:
    for x, y, t in _sizes_and_tag_lengths(r"Epoch tag lengths for the sizes "):
        assert epoch_terms(b"\0" * 16, x, y).tag_length == _epoch_tag_length(x, y) == t
