"""Known-answer tests: RFC 9380, Appendix J.4.2 (curve25519_XMD:SHA-512_ELL2_NU_)."""

from __future__ import annotations

import pytest

from crypto.hash_to_group import encode_to_curve, encode_to_curve_many, expand_message_xmd

RFC9380_DST = b"QUUX-V01-CS02-with-curve25519_XMD:SHA-512_ELL2_NU_"

# (msg, P.x) -- the RFC prints the Montgomery u-coordinate as a big-endian integer.
RFC9380_NU_VECTORS = [
    (b"", "1bb913f0c9daefa0b3375378ffa534bda5526c97391952a7789eb976edfe4d08"),
    (b"abc", "7c22950b7d900fa866334262fcaea47a441a578df43b894b4625c9b450f9a026"),
    (b"abcdef0123456789", "31ad08a8b0deeb2a4d8b0206ca25f567ab4e042746f792f4b7973f3ae2096c52"),
    (b"q128_" + b"q" * 128, "027877759d155b1997d0d84683a313eb78bdb493271d935b622900459d52ceaa"),
    (b"a512_" + b"a" * 512, "5fd892c0958d1a75f54c3182a18d286efab784e774d1e017ba2fb252998b5dc1"),
]


@pytest.mark.parametrize(("msg", "expected_x"), RFC9380_NU_VECTORS)
def test_encode_to_curve_matches_rfc9380(msg: bytes, expected_x: str) -> None:
    element = encode_to_curve(msg, RFC9380_DST)
    assert len(element) == 32
    assert int.from_bytes(element, "little") == int(expected_x, 16)


def test_batch_equals_single() -> None:
    messages = [m for m, _ in RFC9380_NU_VECTORS]
    assert encode_to_curve_many(messages, RFC9380_DST) == [encode_to_curve(m, RFC9380_DST) for m in messages]


def test_domain_separation_changes_the_element() -> None:
    assert encode_to_curve(b"abc", RFC9380_DST) != encode_to_curve(b"abc", RFC9380_DST + b"x")


def test_expand_message_xmd_rfc9380_sha512_vectors() -> None:
    # RFC 9380 Appendix K.3 (expand_message_xmd, SHA-512), len_in_bytes = 0x20.
    dst = b"QUUX-V01-CS02-with-expander-SHA512-256"
    assert expand_message_xmd(b"", dst, 0x20).hex() == (
        "6b9a7312411d92f921c6f68ca0b6380730a1a4d982c507211a90964c394179ba"
    )
    assert expand_message_xmd(b"abc", dst, 0x20).hex() == (
        "0da749f12fbe5483eb066a5f595055679b976e93abe9be6f0f6318bce7aca8dc"
    )


def test_expand_message_xmd_refuses_overlong_requests() -> None:
    with pytest.raises(ValueError):
        expand_message_xmd(b"", b"d" * 256, 32)
    with pytest.raises(ValueError):
        expand_message_xmd(b"", b"dst", 256 * 64)
