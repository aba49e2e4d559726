"""The project's one error root and its families by fault.

Every error casebridge raises on purpose derives from :class:`CasebridgeError`. The two families say whose
fault it is, so the edges (CLI, gRPC) can pick an exit code or status code without string matching:

* :class:`LocalError` -- our side: bad input, bad configuration, a caller misusing an API.
* :class:`RemoteError` -- the peer: malformed data, a message out of protocol, a refused policy.

Messages never carry identifiers, canonical values or key material.
"""

from __future__ import annotations

__all__ = ["CasebridgeError", "InvalidElement", "InvalidSignature", "LocalError", "RemoteError"]


class CasebridgeError(Exception):
    """Root of every error the project raises on purpose."""


class LocalError(CasebridgeError):
    """Our side is at fault: bad input, configuration or API misuse."""


class RemoteError(CasebridgeError):
    """The peer is at fault: malformed data or a message outside the protocol."""


class InvalidElement(RemoteError):
    """A received group element failed validation.

    Deliberately opaque: it never says which check failed (length, encoding, small order), so a peer
    probing with crafted elements learns nothing from the error text.
    """

    def __init__(self) -> None:
        super().__init__("invalid group element")

    def __reduce__(self) -> tuple[type[InvalidElement], tuple[()]]:
        # Raised in worker processes too; it must cross back to the parent intact.
        return (InvalidElement, ())


class InvalidSignature(RemoteError):
    """A signature did not verify.

    Deliberately opaque like :class:`InvalidElement`: a wrong key type, a malformed signature and a
    tampered message all give the same error, so a forger learns nothing about which part was wrong.
    """

    def __init__(self) -> None:
        super().__init__("invalid signature")

    def __reduce__(self) -> tuple[type[InvalidSignature], tuple[()]]:
        return (InvalidSignature, ())
