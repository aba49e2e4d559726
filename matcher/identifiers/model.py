"""Values that cross the boundary of identifier normalisation: inputs, keys, tiers and the one error."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from matcher.errors import MatcherError

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
]


class Tier(enum.Enum):
    """How much a shared key says about two cases being linked.

    ``STRONG`` is an exact identifier issued to one holder (phone, passport, IBAN, ...); ``MEDIUM`` is an
    exact value that may still be shared or reissued (provider-folded e-mail, plate, name + dob); ``WEAK``
    is a fuzzy key that needs an analyst's judgement (phonetic name, swapped day/month).
    """

    STRONG = "strong"
    MEDIUM = "medium"
    WEAK = "weak"


@dataclass(frozen=True)
class MatchKey:
    """One ``(key_type, value)`` pair that takes part in matching; ``value`` is the canonical key string."""

    key_type: str
    tier: Tier
    value: str


@dataclass(frozen=True)
class Identifier:
    """An identifier as an agency records it, before normalisation.

    ``region`` qualifies national phone formats (ISO 3166 alpha-2); ``country`` names the issuing state of
    a document or plate; ``platform`` names the social network of a handle.
    """

    type: str
    value: str
    region: str | None = None
    country: str | None = None
    platform: str | None = None


@dataclass(frozen=True)
class Person:
    """A person named in a case: free-form name in any script, optional ISO date of birth, and a role."""

    name: str
    dob: str | None = None
    role: str = "unknown"


@dataclass(frozen=True)
class Normalized:
    """The canonical form of one identifier or person and every match key derived from it."""

    type: str
    canonical: str
    keys: tuple[MatchKey, ...]


class InvalidIdentifier(MatcherError):
    """An identifier or person that cannot be normalised.

    ``field`` names the input field at fault (``value``, ``region``, ``country``, ``platform``, ``type``,
    ``dob``, ``name``, ``role``) and ``reason`` says what to fix. Neither ever contains the rejected value,
    so the message is safe to log and to show.
    """

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


IDENTIFIER_TYPES: frozenset[str] = frozenset(
    {"phone", "email", "passport", "id_document", "iban", "imei", "crypto", "plate", "social"}
)

# Stable strings: peer policies list them, and they feed the domain separator of the keyed hash, so a
# rename is a federation-wide change.
KEY_TYPES: tuple[str, ...] = (
    "phone",
    "email",
    "email-provider",
    "passport",
    "id_document",
    "iban",
    "imei",
    "crypto",
    "plate",
    "social",
    "person-name-dob",
    "person-phonetic-dob",
    "person-name-dob-swapped",
)

# The tier of every key type (see Tier). A newly pinned peer shares only the strong ones unless the
# operator names others: medium and weak keys are guessable or shared, so they cost a prober less.
KEY_TIERS: dict[str, Tier] = {
    "phone": Tier.STRONG,
    "email": Tier.STRONG,
    "email-provider": Tier.MEDIUM,
    "passport": Tier.STRONG,
    "id_document": Tier.STRONG,
    "iban": Tier.STRONG,
    "imei": Tier.STRONG,
    "crypto": Tier.STRONG,
    "plate": Tier.MEDIUM,
    "social": Tier.STRONG,
    "person-name-dob": Tier.MEDIUM,
    "person-phonetic-dob": Tier.WEAK,
    "person-name-dob-swapped": Tier.WEAK,
}
STRONG_KEY_TYPES: tuple[str, ...] = tuple(t for t in KEY_TYPES if KEY_TIERS[t] is Tier.STRONG)

PERSON_ROLES: frozenset[str] = frozenset({"victim", "suspect", "witness", "unknown"})
