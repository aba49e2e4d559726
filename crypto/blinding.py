"""Blinding with a secret scalar, and tags of doubly blinded elements.

Callers never see a scalar. A :class:`BlindingKey` is created from caller-supplied randomness (so the pure
session core stays deterministic under test) and only offers whole-set operations, each a batch of native
calls (:mod:`crypto._x25519`).

Guarantees of :meth:`BlindingKey.blind`: every input element is validated first -- exactly 32 bytes, a
canonical field encoding (u < 2^255 - 19, so the top bit is clear), and not of small order (X25519 with a
clamped scalar, a multiple of the cofactor 8, sends every small-order point to the all-zero output, which
both engines of :mod:`crypto._x25519` refuse). Any failure raises the single opaque
:class:`~crypto.errors.InvalidElement`.
Not checked: whether a peer's u-coordinate lies on the twist rather than the curve. Curve25519 is
twist-secure and the clamped scalar clears the twist's small cofactor, so such an element yields no bits of
our scalar; a peer that sends one only corrupts its own result (semi-honest model, see docs/protocol.md).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from crypto._encoding import length_prefixed
from crypto._x25519 import WIDTH as ELEMENT_WIDTH
from crypto._x25519 import engine, multiply_many
from crypto.errors import CryptoUsageError, InvalidElement

__all__ = [
    "HANDLE_LENGTH",
    "MAX_TAG_LENGTH",
    "MIN_TAG_LENGTH",
    "BlindingKey",
    "blinding_engine",
    "pair_handle",
    "tag_length_for",
    "tags_of",
]

SCALAR_LENGTH = 32
MIN_TAG_LENGTH = 8
MAX_TAG_LENGTH = 32
_TAG_PERSON = b"cb-psi-tag-v1"
_HANDLE_LABEL = b"casebridge-handle-v2"
HANDLE_LENGTH = 16
# Statistical security of tags: the chance that two different elements share a tag in one session is
# below 2^-STATISTICAL_BITS.
STATISTICAL_BITS = 40


class BlindingKey:
    """A secret scalar for one session (or one configured key epoch)."""

    __slots__ = ("_key", "_seed")

    def __init__(self, seed: bytes) -> None:
        if len(seed) != SCALAR_LENGTH:
            raise CryptoUsageError("a blinding key needs 32 random bytes")
        self._seed = bytes(seed)
        self._key = X25519PrivateKey.from_private_bytes(self._seed)

    @classmethod
    def generate(cls, random_bytes: Callable[[int], bytes]) -> BlindingKey:
        return cls(random_bytes(SCALAR_LENGTH))

    def __repr__(self) -> str:
        return "BlindingKey(<secret>)"

    def __reduce__(self) -> tuple[type[BlindingKey], tuple[bytes]]:
        # No pickles of a key: it would hold the secret, and nothing of ours needs to ship one elsewhere.
        raise TypeError("a blinding key cannot be pickled")

    def secret_bytes(self) -> bytes:
        """The 32 secret bytes, for a key epoch that seals them at rest; never to be logged or sent."""
        return self._seed

    def public_key(self) -> bytes:
        """The scalar times the suite's base point (u = 9): what an initiator commits to in its Open."""
        return self._key.public_key().public_bytes_raw()

    def blind(self, elements: Sequence[bytes], threads: int = 1) -> list[bytes]:
        """Multiply every element by the secret scalar, validating each one first."""
        if any(len(element) != ELEMENT_WIDTH for element in elements):
            raise InvalidElement()
        out = self.blind_concatenated(b"".join(elements), threads)
        return [out[i : i + ELEMENT_WIDTH] for i in range(0, len(out), ELEMENT_WIDTH)]

    def blind_concatenated(self, blob: bytes, threads: int = 1) -> bytes:
        """:meth:`blind` over a concatenation of 32-byte elements, in one batch of native calls.

        ``threads`` > 1 shares the work among that many threads of this process.
        """
        return multiply_many(self._seed, blob, threads)


def blinding_engine() -> str:
    """The name of the X25519 engine blinding uses in this process (see :mod:`crypto._x25519`); raises
    CryptoUsageError when ``CASEBRIDGE_X25519`` names an engine that is unknown or not usable here."""
    return engine()[0]


def tag_length_for(size_a: int, size_b: int) -> int:
    """Tag bytes so that a false match among size_a x size_b comparisons stays below 2^-40."""
    pairs = max(1, size_a) * max(1, size_b)
    bits = pairs.bit_length() + STATISTICAL_BITS
    return min(MAX_TAG_LENGTH, max(MIN_TAG_LENGTH, -(-bits // 8)))


def tags_of(elements: Sequence[bytes], length: int) -> list[bytes]:
    """Short, domain-separated digests of doubly blinded elements, compared instead of the elements."""
    if not MIN_TAG_LENGTH <= length <= MAX_TAG_LENGTH:
        raise CryptoUsageError("tag length out of range")
    blake = hashlib.blake2b
    return [blake(e, digest_size=length, person=_TAG_PERSON).digest() for e in elements]


def pair_handle(element: bytes, agency: str, peer: str) -> bytes:
    """The opaque name of one matched key between two agencies, the same on both sides whatever either
    side's history: ``HMAC-SHA-256(element, lp("casebridge-handle-v2") || lp(lower code) || lp(higher
    code))`` truncated to 16 bytes, with the key's stored group element as the HMAC key and the two agency
    codes in byte order (so both sides compute the same bytes). Only an agency that holds the key can
    compute it, and another pair of agencies gets another handle for the same key.
    """
    if len(element) != 32:
        raise CryptoUsageError("a handle is derived from a 32-byte element")
    low, high = sorted((agency.encode(), peer.encode()))
    return hmac.digest(element, length_prefixed(_HANDLE_LABEL, low, high), "sha256")[:HANDLE_LENGTH]
