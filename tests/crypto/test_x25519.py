"""Batched X25519: each engine against RFC 7748 and against ``cryptography``'s X25519, byte for byte."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto import CryptoUsageError, InvalidElement
from crypto._field import P
from crypto._x25519 import ENGINES, engine, multiply_many, validate
from tests.crypto.test_blinding import SMALL_ORDER_U

BASE = b"\x09" + bytes(31)


def _usable(name: str) -> bool:
    try:
        engine(name)
    except ValueError:
        return False
    return True


# Every engine this machine can run; crypto_mb only where it is installed and the CPU has AVX-512 IFMA
# (test_crypto_mb_is_chosen_exactly_when_this_cpu_runs_it says which).
USABLE = [name for name in ENGINES if _usable(name)]


@pytest.fixture(params=USABLE)
def using(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _reference(scalar: bytes, element: bytes) -> bytes | None:
    """``cryptography``'s X25519 with our canonical rule; None where either refuses."""
    if int.from_bytes(element, "little") >= P:
        return None
    try:
        return X25519PrivateKey.from_private_bytes(scalar).exchange(X25519PublicKey.from_public_bytes(element))
    except ValueError:
        return None


def _points(count: int) -> list[bytes]:
    return [multiply_many(os.urandom(32), BASE) for _ in range(count)]


def test_rfc7748_vectors(using: str) -> None:
    # RFC 7748 section 5.2. The second vector's u has its top bit set, which X25519 masks and we refuse
    # outright (not canonical); cleared here, it must give the RFC's output.
    first = multiply_many(
        bytes.fromhex("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4"),
        bytes.fromhex("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c"),
        using=using,
    )
    assert first.hex() == "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"
    u = bytearray.fromhex("e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493")
    u[31] &= 0x7F
    second = multiply_many(
        bytes.fromhex("4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d"), bytes(u), using=using
    )
    assert second.hex() == "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957"


def test_rfc7748_iterated_vector(using: str) -> None:
    # RFC 7748 section 5.2, the iteration: k, u <- X25519(k, u), k, starting from k = u = 9.
    k = u = BASE
    for _ in range(1000):
        k, u = multiply_many(k, u, using=using), k
        if k[31] & 0x80:  # never happens on this path: outputs are reduced, so the top bit is clear
            raise AssertionError("an output was not canonical")
    assert k.hex() == "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51"


@pytest.mark.parametrize("count", [0, 1, 7, 8, 9, 17, 64])
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_batches_equal_cryptography(using: str, count: int, threads: int) -> None:
    scalar = os.urandom(32)
    elements = _points(count)
    out = multiply_many(scalar, b"".join(elements), threads=threads, using=using)
    assert out == b"".join(_reference(scalar, e) or b"" for e in elements)
    assert len(out) == 32 * count


VALID = [multiply_many(bytes([i + 1]) * 32, BASE) for i in range(24)]


@given(
    st.binary(min_size=32, max_size=32),
    st.lists(st.sampled_from(VALID), max_size=20),
    st.one_of(st.none(), st.binary(min_size=32, max_size=32)),
    st.integers(min_value=0, max_value=20),
    st.sampled_from([1, 2, 3]),
)
@settings(max_examples=80, deadline=None)
def test_any_bytes_are_refused_or_multiplied_as_cryptography_does(
    scalar: bytes, valid: list[bytes], odd: bytes | None, at: int, threads: int
) -> None:
    """Batches of valid points, some with one arbitrary 32-byte value among them: every engine refuses the
    batch exactly when ``cryptography`` (with our canonical rule) refuses one element, and otherwise gives
    its bytes, on one thread or several."""
    elements = list(valid)
    if odd is not None:
        elements.insert(min(at, len(elements)), odd)
    expected = [_reference(scalar, e) for e in elements]
    blob = b"".join(elements)
    for name in USABLE:
        if any(e is None for e in expected):
            with pytest.raises(InvalidElement):
                multiply_many(scalar, blob, threads=threads, using=name)
        else:
            assert multiply_many(scalar, blob, threads=threads, using=name) == b"".join(e or b"" for e in expected)


def test_the_scalar_must_be_32_bytes() -> None:
    for length in (0, 31, 33):
        with pytest.raises(CryptoUsageError):
            multiply_many(bytes(length), BASE)


@pytest.mark.parametrize("u", SMALL_ORDER_U)
@pytest.mark.parametrize("position", [0, 5, 7, 8, 12])
def test_a_small_order_point_anywhere_in_a_batch_refuses_the_batch(using: str, u: int, position: int) -> None:
    elements = _points(13)
    elements[position] = u.to_bytes(32, "little")
    with pytest.raises(InvalidElement):
        multiply_many(os.urandom(32), b"".join(elements), using=using)
    with pytest.raises(InvalidElement):
        multiply_many(os.urandom(32), b"".join(elements), threads=2, using=using)


@pytest.mark.parametrize("u", [P, P + 1, P + 18, 2**255 - 1, 2**255, 2**256 - 1])
def test_validate_refuses_every_non_canonical_encoding(u: int) -> None:
    element = u.to_bytes(32, "little")
    with pytest.raises(InvalidElement):
        validate(b"".join(_points(3)) + element + b"".join(_points(2)))


def test_validate_keeps_canonical_values_next_to_p() -> None:
    # P - 1 and 2^255 - 20 share the top byte 0x7f with the refused values: canonical, so not refused here
    # (P - 1 is later refused as a point of small order, by the multiplication).
    for u in (P - 1, P - 2, 2**254, 2**255 - 2**248 - 1):
        validate(u.to_bytes(32, "little"))
    with pytest.raises(InvalidElement):
        validate(bytes(33))


def test_an_unknown_engine_is_named_in_the_error() -> None:
    with pytest.raises(ValueError, match="unknown X25519 engine 'fast'"):
        engine("fast")


def test_the_environment_can_force_the_portable_engine() -> None:
    code = "from crypto._x25519 import engine; print(engine()[0])"
    env = {**os.environ, "CASEBRIDGE_X25519": "libsodium"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "libsodium"


def test_crypto_mb_is_chosen_exactly_when_this_cpu_runs_it() -> None:
    from crypto._x25519 import _library_file, _load_crypto_mb

    has_ifma = "avx512ifma" in Path("/proc/cpuinfo").read_text()
    installed = _library_file("ipp-crypto", "libcrypto_mb.so") is not None
    loaded = _load_crypto_mb()
    if has_ifma and installed:
        # Where it can run, it loads, passes the known-answer check, and is the engine blinding uses.
        assert loaded is not None
        assert engine()[0] == "crypto_mb"
    else:
        assert loaded is None
        assert engine()[0] == "libsodium"


def test_the_load_check_refuses_an_engine_that_disagrees_with_libsodium() -> None:
    """The guard that keeps a faulty fast engine out, tried on engines with one fault each."""
    from crypto._x25519 import _agrees_with_sodium, _sodium

    def flips_a_bit(scalar: bytes, blob: bytes) -> bytes:
        out = bytearray(_sodium(scalar, blob))
        out[len(out) - 5] ^= 1
        return bytes(out)

    def lets_small_order_through(scalar: bytes, blob: bytes) -> bytes:
        parts = []
        for at in range(0, len(blob), 32):
            try:
                parts.append(_sodium(scalar, blob[at : at + 32]))
            except InvalidElement:
                parts.append(bytes(32))
        return b"".join(parts)

    def refuses_the_twist(scalar: bytes, blob: bytes) -> bytes:
        if (2).to_bytes(32, "little") in [blob[at : at + 32] for at in range(0, len(blob), 32)]:
            raise InvalidElement()
        return _sodium(scalar, blob)

    assert _agrees_with_sodium(_sodium)
    for faulty in (flips_a_bit, lets_small_order_through, refuses_the_twist):
        assert not _agrees_with_sodium(faulty), faulty.__name__
