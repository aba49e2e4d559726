"""Named cipher suites: the only way to choose cryptography in casebridge.

A suite fixes the keyed hash, the hash-to-group map and the blinding group together; peers negotiate it by
name (``<group>-<hash>-v1``), so a later suite can replace this one without loose knobs.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from crypto._encoding import length_prefixed
from crypto.errors import CryptoUsageError
from crypto.hash_to_group import ELEMENT_LENGTH, encode_to_curve_many

__all__ = ["DEFAULT_SUITE", "SUITES", "Suite", "negotiate", "suite_by_name"]

MIN_SECRET_LENGTH = 32


@dataclass(frozen=True)
class Suite:
    """A PSI cipher suite.

    ``hash_keys`` turns typed match keys into storable group elements:
    ``HMAC-SHA-512(federation secret, suite || key type || canonical value)`` then RFC 9380 encode_to_curve
    with a domain separation tag naming the suite. Without the federation secret nobody can compute the
    element of a guessed identifier, so a party outside the federation cannot test guesses against blinded
    traffic; inside the federation the secret protects nothing against a member (see docs/threat-model.md).
    """

    name: str
    element_length: int
    h2c_suite: str

    @property
    def dst(self) -> bytes:
        return f"casebridge-v1-{self.name}-{self.h2c_suite}".encode()

    def keyed_hash(self, secret: bytes, key_type: str, value: str) -> bytes:
        return self._keyed_hashes(secret, [(key_type, value)])[0]

    def _keyed_hashes(self, secret: bytes, keys: Iterable[tuple[str, str]]) -> list[bytes]:
        if len(secret) < MIN_SECRET_LENGTH:
            raise CryptoUsageError(f"the federation secret must be at least {MIN_SECRET_LENGTH} bytes")
        # lp(suite) || lp(key type) is the same for every key of a type: built once per type.
        prefixes: dict[str, bytes] = {}
        suite = length_prefixed(self.name.encode())
        digest = hmac.digest
        out: list[bytes] = []
        for key_type, value in keys:
            prefix = prefixes.get(key_type)
            if prefix is None:
                prefix = prefixes[key_type] = suite + length_prefixed(key_type.encode())
            encoded = value.encode()
            out.append(digest(secret, prefix + len(encoded).to_bytes(4, "big") + encoded, "sha512"))
        return out

    def federation_proof(self, secret: bytes, session_id: bytes) -> bytes:
        """Proof, bound to one session, that the sender holds ``secret``.

        A node with another secret would complete every session and never match anything; comparing this
        value lets the responder say so at once. It is a MAC over a fresh random session id, so it reveals
        nothing about the secret and cannot be replayed into another session.
        """
        if len(secret) < MIN_SECRET_LENGTH:
            raise CryptoUsageError(f"the federation secret must be at least {MIN_SECRET_LENGTH} bytes")
        return hmac.digest(
            secret, length_prefixed(b"casebridge-federation-proof", self.name.encode(), session_id), "sha256"
        )

    def hash_keys(self, secret: bytes, keys: Iterable[tuple[str, str]]) -> list[bytes]:
        """Group elements for ``(key_type, canonical value)`` pairs, in order."""
        return encode_to_curve_many(self._keyed_hashes(secret, keys), self.dst)


X25519_ELL2_SHA512 = Suite(
    name="x25519-elligator2-sha512-v1",
    element_length=ELEMENT_LENGTH,
    h2c_suite="curve25519_XMD:SHA-512_ELL2_NU_",
)

SUITES: dict[str, Suite] = {X25519_ELL2_SHA512.name: X25519_ELL2_SHA512}
DEFAULT_SUITE = X25519_ELL2_SHA512


def suite_by_name(name: str) -> Suite:
    try:
        return SUITES[name]
    except KeyError:
        raise CryptoUsageError(f"unknown suite {name!r}; known: {', '.join(sorted(SUITES))}") from None


def negotiate(offered: Sequence[str], supported: Iterable[str] = SUITES) -> Suite | None:
    """The first offered suite we support, or None."""
    ours = set(supported)
    for name in offered:
        if name in ours:
            return SUITES[name]
    return None
