"""Standard hash-to-group into the prime-order subgroup of Curve25519.

The map is ``curve25519_XMD:SHA-512_ELL2_NU_`` of RFC 9380 (section 6.8.2 Elligator 2, encode_to_curve):

1. ``expand_message_xmd`` with SHA-512 stretches the message to 48 bytes under a domain separation tag;
2. the bytes, read big-endian and reduced mod p, give the field element u (``hash_to_field``);
3. Elligator 2 maps u to the curve and the cofactor 8 is cleared -- done in C by libsodium's
   ``crypto_core_ed25519_from_uniform``, which returns the same point on the birationally equivalent
   Edwards curve;
4. the Edwards y is converted to the Montgomery u-coordinate, u = (1 + y) / (1 - y), with one inversion per
   batch.

The output is the 32-byte little-endian u-coordinate of a point in the prime-order subgroup: a storable
value (import computes it once per key) that X25519 can multiply. It is never a raw hash used as a
u-coordinate, so it reveals nothing about the input (a raw hash would leak whether it lies on the curve or
its twist). Guarantees: deterministic, matches the RFC 9380 test vectors (see tests). Not guaranteed: uniform
output -- encode_to_curve reaches about half of the group, which is fine for hashing identifiers before
blinding but must not be used where a random-oracle-to-group is required.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from nacl.bindings import crypto_core_ed25519_from_uniform

from crypto._field import P, batch_inverse

__all__ = ["ELEMENT_LENGTH", "encode_to_curve", "encode_to_curve_many", "expand_message_xmd"]

ELEMENT_LENGTH = 32
_Y_MASK = (1 << 255) - 1
_SHA512_BLOCK = 128
_SHA512_OUT = 64


def expand_message_xmd(msg: bytes, dst: bytes, length: int) -> bytes:
    """RFC 9380 section 5.3.1 with SHA-512."""
    if len(dst) > 255:
        raise ValueError("domain separation tag longer than 255 bytes")
    ell = -(-length // _SHA512_OUT)
    if ell > 255 or length > 65535:
        raise ValueError("requested output too long")
    dst_prime = dst + bytes([len(dst)])
    b0 = hashlib.sha512(b"\x00" * _SHA512_BLOCK + msg + length.to_bytes(2, "big") + b"\x00" + dst_prime).digest()
    b_prev = hashlib.sha512(b0 + b"\x01" + dst_prime).digest()
    out = [b_prev]
    for i in range(2, ell + 1):
        mixed = bytes(x ^ y for x, y in zip(b0, b_prev, strict=True))
        b_prev = hashlib.sha512(mixed + bytes([i]) + dst_prime).digest()
        out.append(b_prev)
    return b"".join(out)[:length]


_Z_PAD = hashlib.sha512(b"\x00" * _SHA512_BLOCK)


def _edwards_ys(messages: Sequence[bytes], dst: bytes) -> list[int]:
    """hash_to_field then Elligator 2 with the cofactor cleared, for many messages.

    The same steps as :func:`expand_message_xmd` for 48 bytes (one SHA-512 block of output), with what does
    not depend on the message computed once: the zero pad is absorbed into a saved hash state, and the
    suffixes are built once. The RFC 9380 vectors in the tests cover this path.
    """
    dst_prime = dst + bytes([len(dst)])
    if len(dst) > 255:
        raise ValueError("domain separation tag longer than 255 bytes")
    b0_tail = (48).to_bytes(2, "big") + b"\x00" + dst_prime
    b1_tail = b"\x01" + dst_prime
    sha512, zpad = hashlib.sha512, _Z_PAD
    from_uniform = crypto_core_ed25519_from_uniform
    out: list[int] = []
    for msg in messages:
        state = zpad.copy()
        state.update(msg + b0_tail)
        uniform = sha512(state.digest() + b1_tail).digest()[:48]
        u = int.from_bytes(uniform, "big") % P
        out.append(int.from_bytes(from_uniform(u.to_bytes(32, "little")), "little") & _Y_MASK)
    return out


def encode_to_curve_many(messages: Sequence[bytes], dst: bytes) -> list[bytes]:
    """Map each message to a group element (32-byte Montgomery u, little-endian)."""
    ys = _edwards_ys(messages, dst)
    # The identity (y = 1) is the only point of the subgroup without a u-coordinate; reaching it means
    # finding a preimage of a fixed point under SHA-512, which we treat as impossible.
    inverses = batch_inverse([(1 - y) % P for y in ys])
    return [((1 + y) * inv % P).to_bytes(32, "little") for y, inv in zip(ys, inverses, strict=True)]


def encode_to_curve(msg: bytes, dst: bytes) -> bytes:
    """Map one message to a group element (32-byte Montgomery u, little-endian)."""
    return encode_to_curve_many([msg], dst)[0]
