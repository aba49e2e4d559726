"""The errors of the cryptographic layer, and nothing else.

``crypto`` knows nothing of the application around it: it says *what* went wrong with a cryptographic
input, never *whose* fault it is or what to do about it. The node decides that at its edges
(``node/core/errors.py``).

* :class:`CryptoUsageError` -- an argument that is not of the required form: a short secret, an unknown
  suite name, a file that is not a certificate. Its message names the problem, never a secret.
* :class:`InvalidElement`, :class:`InvalidSignature` -- deliberately opaque verification failures.
"""

from __future__ import annotations

__all__ = ["CryptoError", "CryptoUsageError", "InvalidElement", "InvalidSignature"]


class CryptoError(Exception):
    """Root of every error ``crypto`` raises on purpose."""


class CryptoUsageError(CryptoError, ValueError):
    """An argument is not of the form the operation needs (bad length, unknown name, wrong key type)."""


class InvalidElement(CryptoError):
    """A received group element failed validation.

    Deliberately opaque: it never says which check failed (length, encoding, small order), so a peer
    probing with crafted elements learns nothing from the error text.
    """

    def __init__(self) -> None:
        super().__init__("invalid group element")

    def __reduce__(self) -> tuple[type[InvalidElement], tuple[()]]:
        # Raised in worker processes too; it must cross back to the parent intact.
        return (InvalidElement, ())


class InvalidSignature(CryptoError):
    """A signature did not verify.

    Deliberately opaque like :class:`InvalidElement`: a wrong key type, a malformed signature and a
    tampered message all give the same error, so a forger learns nothing about which part was wrong.
    """

    def __init__(self) -> None:
        super().__init__("invalid signature")

    def __reduce__(self) -> tuple[type[InvalidSignature], tuple[()]]:
        return (InvalidSignature, ())
