"""Passports and identity documents: ICAO issuer code plus the number in MRZ characters."""

from __future__ import annotations

from matcher.identifiers.countries import icao_issuer
from matcher.identifiers.model import Identifier, InvalidIdentifier, MatchKey, Normalized, Tier

__all__ = ["normalize_document"]

# Writing aids that appear in copied numbers but are not part of the document number; "<" is the MRZ
# filler, which pads short numbers in the machine-readable zone.
_SEPARATORS = frozenset(" \t-/.<")
_MAX_LENGTH = 20
_MRZ = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


def normalize_document(identifier: Identifier) -> Normalized:
    """``"<ICAO issuer>:<number>"`` for ``passport`` and ``id_document``; the issuing country is required.

    The number is upper-cased with separators and MRZ fillers removed, and must then be 1 to 20 MRZ
    characters (A-Z, 0-9). No national check-digit scheme is applied: the number alone, without the MRZ
    check digit, is what agencies record.
    """
    issuer = icao_issuer(identifier.country)
    number = "".join(c for c in identifier.value.strip().upper() if c not in _SEPARATORS)
    if not number:
        raise InvalidIdentifier("value", "empty document number")
    if any(c not in _MRZ for c in number):
        raise InvalidIdentifier("value", "a document number may hold only letters A-Z and digits 0-9")
    if len(number) > _MAX_LENGTH:
        raise InvalidIdentifier("value", f"a document number has at most {_MAX_LENGTH} characters")
    canonical = f"{issuer}:{number}"
    return Normalized(identifier.type, canonical, (MatchKey(identifier.type, Tier.STRONG, canonical),))
