"""Phone numbers: E.164 through ``phonenumbers``."""

from __future__ import annotations

import phonenumbers

from matcher.identifiers.model import Identifier, InvalidIdentifier, MatchKey, Normalized, Tier

__all__ = ["normalize_phone"]


def _region(region: str | None) -> str | None:
    if region is None or not region.strip():
        return None
    code = region.strip().upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise InvalidIdentifier("region", "not a known ISO 3166 alpha-2 region for phone numbers, e.g. NL")
    return code


def normalize_phone(identifier: Identifier) -> Normalized:
    """Parse with the given region (needed for national formats) and keep only numbers that are valid.

    Guarantees the key is E.164 (``+`` and digits). Validity is ``phonenumbers.is_valid_number``: a number
    in an unassigned range is refused even if it is the right length.
    """
    region = _region(identifier.region)
    raw = identifier.value.strip()
    if not raw:
        raise InvalidIdentifier("value", "empty phone number")
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        if exc.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
            if region is None and not raw.startswith("+"):
                raise InvalidIdentifier(
                    "region", "required for a number without an international prefix (the ISO country code, e.g. NL)"
                ) from None
            raise InvalidIdentifier("value", "unknown country calling code") from None
        raise InvalidIdentifier("value", "not a phone number") from None
    if not phonenumbers.is_valid_number(parsed):
        where = f" for region {region}" if region and not raw.startswith(("+", "00")) else ""
        raise InvalidIdentifier("value", f"not a valid phone number{where}")
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return Normalized("phone", e164, (MatchKey("phone", Tier.STRONG, e164),))
