"""Blinding: commutativity, validation of every received element, tags."""

from __future__ import annotations

import pickle
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto import DEFAULT_SUITE, BlindingKey, CryptoUsageError, InvalidElement, tag_length_for, tags_of
from crypto._field import P

SECRET = bytes(range(32))
ELEMENTS = DEFAULT_SUITE.hash_keys(SECRET, [("phone", f"+3161234{i:04d}") for i in range(8)])

# Points of small order on Curve25519 and their non-canonical encodings (u + p still fits in 255 bits for
# u < 19); X25519 maps each to the all-zero output under a clamped scalar.
SMALL_ORDER_U = [
    0,
    1,
    325606250916557431795983626356110631294008115727848805560023387167927233504,
    39382357235489614581723060781553021112529911719440698176882885853963445705823,
    P - 1,
]


def _le(value: int, length: int = 32) -> bytes:
    return value.to_bytes(length, "little")


@given(st.binary(min_size=32, max_size=32), st.binary(min_size=32, max_size=32))
@settings(max_examples=25, deadline=None)
def test_blinding_commutes(seed_a: bytes, seed_b: bytes) -> None:
    a, b = BlindingKey(seed_a), BlindingKey(seed_b)
    assert b.blind(a.blind(ELEMENTS)) == a.blind(b.blind(ELEMENTS))


def test_blinding_is_a_bijection_on_our_elements() -> None:
    key = BlindingKey(bytes(32))
    assert len(set(key.blind(ELEMENTS))) == len(ELEMENTS)
    assert set(key.blind(ELEMENTS)).isdisjoint(ELEMENTS)


@pytest.mark.parametrize("u", SMALL_ORDER_U)
def test_small_order_points_are_refused(u: int) -> None:
    with pytest.raises(InvalidElement):
        BlindingKey(bytes(32)).blind([_le(u)])


@pytest.mark.parametrize("u", [P, P + 1, P + 18, 2**255 - 1])
def test_non_canonical_encodings_are_refused(u: int) -> None:
    with pytest.raises(InvalidElement):
        BlindingKey(bytes(32)).blind([_le(u)])


def test_top_bit_set_is_refused_even_if_the_rest_is_valid() -> None:
    element = bytearray(ELEMENTS[0])
    element[31] |= 0x80
    with pytest.raises(InvalidElement):
        BlindingKey(bytes(32)).blind([bytes(element)])


@pytest.mark.parametrize("length", [0, 1, 31, 33, 64])
def test_wrong_lengths_are_refused(length: int) -> None:
    with pytest.raises(InvalidElement):
        BlindingKey(bytes(32)).blind([b"\x09" * length])


def test_concatenated_blob_must_be_whole_elements() -> None:
    key = BlindingKey(bytes(32))
    assert key.blind_concatenated(b"".join(ELEMENTS)) == b"".join(key.blind(ELEMENTS))
    with pytest.raises(InvalidElement):
        key.blind_concatenated(b"".join(ELEMENTS) + b"\x01")


def test_invalid_element_error_is_opaque() -> None:
    messages = set()
    for bad in (_le(0), _le(P), b"\x01" * 31):
        with pytest.raises(InvalidElement) as info:
            BlindingKey(bytes(32)).blind([bad])
        messages.add(str(info.value))
    assert messages == {"invalid group element"}


def test_key_never_shows_its_secret() -> None:
    seed = random.Random(3).randbytes(32)
    key = BlindingKey(seed)
    assert seed.hex() not in repr(key)
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(key)


def test_key_needs_32_bytes() -> None:
    with pytest.raises(CryptoUsageError):
        BlindingKey(b"short")


def test_tag_length_grows_with_the_sets() -> None:
    assert tag_length_for(0, 0) == 8
    assert tag_length_for(100_000, 100_000) == 10
    assert tag_length_for(10**6, 10**6) == 10
    assert tag_length_for(10**9, 10**9) == 13


def test_tags_are_short_and_deterministic() -> None:
    tags = tags_of(ELEMENTS, 10)
    assert [len(t) for t in tags] == [10] * len(ELEMENTS)
    assert tags == tags_of(ELEMENTS, 10)
    with pytest.raises(CryptoUsageError):
        tags_of(ELEMENTS, 4)


def test_opaque_errors_survive_pickling() -> None:
    """Hashing and parsing run in worker processes; errors raised there must come back whole."""
    from crypto.errors import InvalidSignature

    for error in (InvalidElement(), InvalidSignature()):
        again = pickle.loads(pickle.dumps(error))
        assert type(again) is type(error)
        assert str(again) == str(error)
