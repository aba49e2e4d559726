"""The one byte layout every casebridge MAC input uses: ``lp(x)`` = len(x) as 4 bytes big-endian, then x."""

from __future__ import annotations

__all__ = ["length_prefixed"]


def length_prefixed(*parts: bytes) -> bytes:
    """``lp(part_1) || lp(part_2) || ...`` (docs/protocol.md, "Encodings")."""
    return b"".join(len(p).to_bytes(4, "big") + p for p in parts)
