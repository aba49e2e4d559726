"""Secrets kept at rest in the store, sealed under a key only this node holds (``<home>/epoch.key``).

AES-256-GCM with a fresh 12-byte nonce per seal; the associated data binds a sealed value to what it belongs
to, so a sealed secret copied to another row does not open there.
"""

from __future__ import annotations

import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from node.core.errors import LocalError
from node.core.home import NodeHome
from node.core.keyfile import local_key

__all__ = ["NONCE_BYTES", "seal", "sealing_key", "unseal"]

NONCE_BYTES = 12


def sealing_key(home: NodeHome) -> bytes:
    return local_key(home.root / "epoch.key", "the epoch key")


def seal(key: bytes, secret: bytes, bound_to: bytes) -> bytes:
    nonce = secrets.token_bytes(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, secret, bound_to)


def unseal(key: bytes, sealed: bytes, bound_to: bytes) -> bytes:
    try:
        return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], bound_to)
    except (InvalidTag, ValueError):
        raise LocalError("a sealed epoch secret does not open with this node's epoch key") from None
