"""Country codes as they appear on documents (ICAO 9303) and on vehicles (international distinguishing signs).

ISO 3166 comes from ``pycountry``. The two tables below hold only what ISO does not: the codes ICAO uses on
travel documents beyond ISO alpha-3, and the distinguishing signs on plates that are not ISO codes.
"""

from __future__ import annotations

import pycountry

from matcher.identifiers.model import InvalidIdentifier

__all__ = ["icao_issuer", "plate_country"]

# ICAO 9303 Part 3: issuers that are not ISO alpha-3 states, plus Germany, which writes "D" in the MRZ.
# Germany is stored as "D" whatever form came in, so that "DE", "DEU" and "D" give the same key.
_ICAO_SPECIAL: frozenset[str] = frozenset(
    {
        "D",
        "EUE",
        "GBD",
        "GBN",
        "GBO",
        "GBP",
        "GBS",
        "RKS",
        "UNA",
        "UNK",
        "UNO",
        "XBA",
        "XCC",
        "XCE",
        "XCO",
        "XDC",
        "XEC",
        "XES",
        "XIM",
        "XMP",
        "XOM",
        "XPO",
        "XXA",
        "XXB",
        "XXC",
        "XXX",
    }
)
# Codes outside ISO 3166 that people still type for an issuing state.
_ICAO_ALIASES: dict[str, str] = {"DEU": "D", "DE": "D", "XK": "RKS", "UK": "GBR"}

# Distinguishing signs (1949/1968 conventions) that are not ISO alpha-2 or alpha-3 codes of the same state.
# Where a sign collides with an ISO code of another state (Egypt's "ET" is Ethiopia in ISO), ISO wins and
# the sign is left out, because guessing would merge two countries' plates.
_PLATE_SIGNS: dict[str, str] = {
    "A": "AT",
    "B": "BE",
    "D": "DE",
    "E": "ES",
    "F": "FR",
    "H": "HU",
    "I": "IT",
    "J": "JP",
    "L": "LU",
    "M": "MT",
    "N": "NO",
    "P": "PT",
    "S": "SE",
    "V": "VA",
    "T": "TH",
    "Q": "QA",
    "FL": "LI",
    "IRL": "IE",
    "UK": "GB",
    "GBA": "GG",
    "GBG": "GG",
    "GBJ": "JE",
    "GBM": "IM",
    "GBZ": "GI",
    "NMK": "MK",
    "SLO": "SI",
    "RSM": "SM",
    "SRB": "RS",
    "MNE": "ME",
    "RKS": "XK",
    "CDN": "CA",
    "RCH": "CL",
    "RA": "AR",
    "RI": "ID",
    "RL": "LB",
    "WAN": "NG",
    "EAK": "KE",
    "EAT": "TZ",
    "EAU": "UG",
    "UAE": "AE",
}


def _iso(code: str) -> pycountry.db.Country | None:
    if len(code) == 2:
        return pycountry.countries.get(alpha_2=code)
    if len(code) == 3:
        return pycountry.countries.get(alpha_3=code)
    return None


def _clean(code: str | None, field: str, what: str) -> str:
    if code is None or not code.strip():
        raise InvalidIdentifier(field, f"required: the {what}")
    cleaned = code.strip().upper()
    if not cleaned.isascii() or not cleaned.isalpha():
        raise InvalidIdentifier(field, f"must be letters only: the {what}")
    return cleaned


def icao_issuer(code: str | None, field: str = "country") -> str:
    """The ICAO 9303 issuer code for ``code`` (ISO alpha-2, ISO alpha-3 or an ICAO special code)."""
    cleaned = _clean(code, field, "issuing state as an ICAO or ISO 3166 code, e.g. ROU, RO or D")
    if cleaned in _ICAO_ALIASES:
        return _ICAO_ALIASES[cleaned]
    if cleaned in _ICAO_SPECIAL:
        return cleaned
    country = _iso(cleaned)
    if country is None:
        raise InvalidIdentifier(field, "not a known ISO 3166 or ICAO 9303 issuer code")
    return str(country.alpha_3)


def plate_country(code: str | None, field: str = "country") -> str:
    """The ISO alpha-2 code for a plate's country (ISO alpha-2, alpha-3 or a distinguishing sign)."""
    cleaned = _clean(code, field, "registration country as an ISO 3166 code or plate sign, e.g. NL or D")
    if cleaned == "XK":
        return "XK"
    country = _iso(cleaned)
    if country is not None:
        return str(country.alpha_2)
    if cleaned in _PLATE_SIGNS:
        return _PLATE_SIGNS[cleaned]
    raise InvalidIdentifier(field, "not a known ISO 3166 code or international plate sign")
