"""Identifier normalisation: one canonical form and typed, tiered match keys per identifier or person.

Pure code: no I/O, no clock. What a key looks like is part of the federation's contract, because two
agencies only match when they derive byte-identical keys; change a rule here and every node must
re-derive its keys.
"""

from __future__ import annotations

from collections.abc import Callable

from matcher.identifiers.devices import normalize_imei, normalize_plate, normalize_social
from matcher.identifiers.documents import normalize_document
from matcher.identifiers.email import normalize_email
from matcher.identifiers.finance import normalize_crypto, normalize_iban
from matcher.identifiers.model import (
    IDENTIFIER_TYPES,
    KEY_TIERS,
    KEY_TYPES,
    PERSON_ROLES,
    STRONG_KEY_TYPES,
    Identifier,
    InvalidIdentifier,
    MatchKey,
    Normalized,
    Person,
    Tier,
)
from matcher.identifiers.person import normalize_person
from matcher.identifiers.phone import normalize_phone

__all__ = [
    "IDENTIFIER_TYPES",
    "KEY_TIERS",
    "KEY_TYPES",
    "PERSON_ROLES",
    "STRONG_KEY_TYPES",
    "Identifier",
    "InvalidIdentifier",
    "MatchKey",
    "Normalized",
    "Person",
    "Tier",
    "normalize_identifier",
    "normalize_person",
]

_NORMALIZERS: dict[str, Callable[[Identifier], Normalized]] = {
    "phone": normalize_phone,
    "email": normalize_email,
    "passport": normalize_document,
    "id_document": normalize_document,
    "iban": normalize_iban,
    "imei": normalize_imei,
    "crypto": normalize_crypto,
    "plate": normalize_plate,
    "social": normalize_social,
}


def normalize_identifier(identifier: Identifier) -> Normalized:
    """The canonical form and match keys of ``identifier``; :class:`InvalidIdentifier` if it is not valid.

    The error names the field at fault and never repeats the value.
    """
    normalizer = _NORMALIZERS.get(identifier.type)
    if normalizer is None:
        raise InvalidIdentifier("type", "unknown identifier type; known: " + ", ".join(sorted(IDENTIFIER_TYPES)))
    return normalizer(identifier)
