"""Synthetic case files: realistic, deterministic, never real people.

Used by ``casebridge bench import`` and the demo. Identifiers are valid for their type (phones in
assigned mobile ranges, IBANs and IMEIs with correct check digits) and written in the mixed formats real
case files hold (national and international phone numbers, spaced IBANs, plates with separators), so an
import exercises the same normalisation paths as real data. :func:`agency_case_files` makes files for
several agencies that share a known fraction of identifiers, written differently on each side.
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stdnum import luhn

__all__ = ["SyntheticCase", "agency_case_files", "synthetic_cases", "write_csv", "write_jsonl"]

SyntheticCase = dict[str, Any]

# Region -> (country calling code, national trunk prefix, mobile prefixes, subscriber digits), taken from
# each numbering plan's assigned mobile ranges so that phonenumbers accepts every generated number.
_MOBILE: dict[str, tuple[str, str, tuple[str, ...], int]] = {
    "NL": ("31", "0", ("61", "62", "63", "64", "65"), 7),
    "DE": ("49", "0", ("1512", "1520", "160", "170", "176"), 7),
    "RO": ("40", "0", ("721", "722", "744", "745", "766"), 6),
    "FR": ("33", "0", ("61", "62", "66", "67", "75", "77"), 7),
    "IT": ("39", "", ("320", "333", "347", "348"), 7),
    "ES": ("34", "", ("61", "62", "65", "71", "72"), 7),
    "GR": ("30", "", ("690", "693", "694", "697", "698"), 7),
    "BG": ("359", "0", ("87", "88", "89"), 7),
    "PL": ("48", "", ("50", "51", "53", "60", "66"), 7),
    "UA": ("380", "0", ("50", "63", "67", "93"), 7),
}
# ISO alpha-2 -> ICAO issuer code for the documents.
_ISSUERS = {"NL": "NLD", "DE": "D", "RO": "ROU", "FR": "FRA", "IT": "ITA", "ES": "ESP", "GR": "GRC",
            "BG": "BGR", "PL": "POL", "UA": "UKR"}  # fmt: skip
# Country -> BBAN layout: "n" a digit, "a" an upper-case letter.
_BBAN = {"NL": "a" * 4 + "n" * 10, "DE": "n" * 18, "RO": "a" * 4 + "n" * 16, "BG": "a" * 4 + "n" * 14,
         "GB": "a" * 4 + "n" * 14, "PL": "n" * 24}  # fmt: skip
_EMAIL_DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "mail.ru", "gmx.de", "yandex.ru", "abv.bg",
                  "libero.it", "protonmail.com", "example.org")  # fmt: skip
_PLATFORMS = ("instagram", "telegram", "tiktok", "facebook", "x", "snapchat", "whatsapp", "vk")
_GIVEN = ("Иван", "Ольга", "Андрій", "Наталія", "Γιώργος", "Ελένη", "Δημήτρης", "José", "Zoë",
          "Ștefan", "Ioana", "Małgorzata", "Jürgen", "Ayşe", "François", "Anna", "Petar", "Мария",
          "Nikolaj", "Lucía")  # fmt: skip
_FAMILY = ("Петров", "Смирнова", "Шевченко", "Παπαδόπουλος", "Οικονόμου", "Müller", "Dvořák", "Popescu",
           "Ionescu", "Kowalska", "Nowak", "Fernández", "Rossi", "Иванова", "Georgiev", "Van der Berg",
           "Öztürk", "Lefèvre", "Kovač", "Jansen")  # fmt: skip
_LATIN_GIVEN = ("anna", "ivan", "maria", "jose", "elena", "petar", "olga", "marco", "lena", "adam")
_LATIN_FAMILY = ("petrov", "popescu", "muller", "nowak", "rossi", "jansen", "georgiev", "dvorak", "kovac")
_ROLES = ("victim", "suspect", "witness", "unknown")
_TITLES = ("Labour exploitation, agricultural sector", "Sexual exploitation via online adverts",
           "Forced criminality, shoplifting ring", "Document fraud at border crossing",
           "Money mule network", "Domestic servitude", "Facilitated illegal immigration")  # fmt: skip


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def _letters(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("ABCDEFGHIJKLMNOPRSTUVWXZ") for _ in range(n))


@dataclass(frozen=True)
class _Phone:
    region: str
    national: str  # national significant number

    def written(self, rng: random.Random) -> dict[str, str]:
        cc, trunk, _, _ = _MOBILE[self.region]
        n = self.national
        style = rng.randrange(4)
        if style == 0:
            return {"type": "phone", "value": f"+{cc}{n}"}
        if style == 1:
            return {"type": "phone", "value": f"+{cc} {n[:3]} {n[3:6]} {n[6:]}".rstrip()}
        if style == 2:
            return {"type": "phone", "value": f"+{cc}-{n[:3]}-{n[3:]}"}
        return {"type": "phone", "value": f"{trunk}{n[:3]} {n[3:]}", "region": self.region}


def _phone(rng: random.Random) -> _Phone:
    region = rng.choice(tuple(_MOBILE))
    _, _, prefixes, rest = _MOBILE[region]
    return _Phone(region, rng.choice(prefixes) + _digits(rng, rest))


def _iban(rng: random.Random) -> dict[str, str]:
    country = rng.choice(tuple(_BBAN))
    bban = "".join(rng.choice("0123456789") if c == "n" else _letters(rng, 1) for c in _BBAN[country])
    numeric = "".join(str(int(ch, 36)) for ch in bban + country + "00")
    check = 98 - int(numeric) % 97
    iban = f"{country}{check:02d}{bban}"
    if rng.random() < 0.5:
        iban = " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
    return {"type": "iban", "value": iban}


def _imei(rng: random.Random) -> dict[str, str]:
    body = rng.choice(("35", "86", "01", "49")) + _digits(rng, 12)
    return {"type": "imei", "value": body + luhn.calc_check_digit(body)}


def _email(rng: random.Random) -> dict[str, str]:
    local = f"{rng.choice(_LATIN_GIVEN)}.{rng.choice(_LATIN_FAMILY)}{rng.randrange(10_000)}"
    if rng.random() < 0.1:
        local += "+ads"
    domain = rng.choice(_EMAIL_DOMAINS)
    value = f"{local}@{domain}"
    return {"type": "email", "value": value.title() if rng.random() < 0.2 else value}


def _passport(rng: random.Random) -> dict[str, str]:
    region = rng.choice(tuple(_ISSUERS))
    kind = "passport" if rng.random() < 0.8 else "id_document"
    return {"type": kind, "value": _letters(rng, 2) + _digits(rng, 7), "country": _ISSUERS[region]}


def _plate(rng: random.Random) -> dict[str, str]:
    style = rng.randrange(3)
    if style == 0:
        return {
            "type": "plate",
            "value": f"{_letters(rng, 2)}-{_digits(rng, 3)}-{_letters(rng, 1)}",
            "country": "NL",
        }
    if style == 1:
        return {"type": "plate", "value": f"B-{_letters(rng, 2)} {_digits(rng, 4)}", "country": "DE"}
    return {"type": "plate", "value": f"B {_digits(rng, 3)} {_letters(rng, 3)}", "country": "RO"}


def _social(rng: random.Random) -> dict[str, str]:
    handle = f"{rng.choice(_LATIN_GIVEN)}_{rng.choice(_LATIN_FAMILY)}{rng.randrange(100_000)}"
    return {"type": "social", "platform": rng.choice(_PLATFORMS), "value": "@" + handle}


def _crypto(rng: random.Random) -> dict[str, str]:
    return {"type": "crypto", "value": "0x" + "".join(rng.choice("0123456789abcdef") for _ in range(40))}


def _person(rng: random.Random) -> dict[str, str]:
    person = {"name": f"{rng.choice(_GIVEN)} {rng.choice(_FAMILY)}", "role": rng.choice(_ROLES)}
    if rng.random() < 0.85:
        person["dob"] = f"{rng.randrange(1950, 2010)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"
    return person


# Relative frequency of each kind in a case, roughly as in trafficking case files: phones dominate.
_KINDS = (
    ("phone",) * 8
    + ("email",) * 4
    + ("passport",) * 2
    + ("iban",) * 2
    + ("imei", "plate", "social", "social", "crypto")
)
_MAKERS = {"email": _email, "passport": _passport, "iban": _iban, "imei": _imei, "plate": _plate,
           "social": _social, "crypto": _crypto}  # fmt: skip


def _identifier(rng: random.Random) -> dict[str, str]:
    kind = rng.choice(_KINDS)
    if kind == "phone":
        return _phone(rng).written(rng)
    return _MAKERS[kind](rng)


def synthetic_cases(
    count: int,
    *,
    seed: int = 0,
    prefix: str = "SYN",
    shared: Sequence[_Phone | dict[str, str]] = (),
    overlap: float = 0.0,
) -> list[SyntheticCase]:
    """``count`` cases with 1 to 5 identifiers each (3 on average) and 0 to 2 persons.

    With ``shared`` and ``overlap``, that fraction of cases also carries one identifier drawn from the
    shared pool -- how several agencies' files come to match.
    """
    rng = random.Random(seed)  # noqa: S311 (synthetic data, reproducible by design)
    year = 2020 + seed % 7
    cases: list[SyntheticCase] = []
    for i in range(count):
        identifiers = [_identifier(rng) for _ in range(rng.choice((1, 2, 3, 3, 4, 5)))]
        if shared and rng.random() < overlap:
            pick = rng.choice(shared)
            identifiers.append(pick.written(rng) if isinstance(pick, _Phone) else dict(pick))
        cases.append(
            {
                "case_ref": f"{prefix}-{year}-{i:07d}",
                "title": rng.choice(_TITLES),
                "summary": f"Synthetic case {i} for testing; no real persons.",
                "contact": f"liaison.desk@{prefix.lower()}.example",
                "opened": f"{year}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}",
                "identifiers": identifiers,
                "persons": [_person(rng) for _ in range(rng.choice((0, 1, 1, 2)))],
            }
        )
    return cases


def agency_case_files(
    agencies: Sequence[str], count: int, *, seed: int = 0, overlap: float = 0.02, pool_size: int = 200
) -> dict[str, list[SyntheticCase]]:
    """Cases for each agency; about ``overlap`` of each agency's cases share an identifier with others.

    Shared phones are written in a format chosen per case, so matches only happen through normalisation.
    """
    rng = random.Random(seed ^ 0x5EED)  # noqa: S311
    pool: list[_Phone | dict[str, str]] = [
        _phone(rng) if rng.random() < 0.6 else _identifier(rng) for _ in range(pool_size)
    ]
    return {
        code: synthetic_cases(count, seed=seed * 1009 + n, prefix=code.replace("-", ""), shared=pool, overlap=overlap)
        for n, code in enumerate(agencies)
    }


def write_jsonl(cases: Iterable[SyntheticCase], path: Path) -> Path:
    with path.open("w", encoding="utf-8") as out:
        for case in cases:
            out.write(json.dumps(case, ensure_ascii=False))
            out.write("\n")
    return path


_CSV_QUALIFIER = {"phone": "region", "passport": "country", "id_document": "country", "plate": "country",
                  "social": "platform"}  # fmt: skip


def write_csv(cases: Iterable[SyntheticCase], path: Path) -> Path:
    """The same cases in the CSV form of docs/case-file.md (one row per case)."""
    types = ("phone", "email", "passport", "id_document", "iban", "imei", "crypto", "plate", "social")
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["case_ref", "title", "summary", "contact", "opened", *types, "persons"])
        for case in cases:
            cells: dict[str, list[str]] = {t: [] for t in types}
            for ident in case["identifiers"]:
                qualifier = ident.get(_CSV_QUALIFIER.get(ident["type"], ""), "")
                cells[ident["type"]].append(f"{qualifier}:{ident['value']}" if qualifier else ident["value"])
            persons = ["|".join([p["name"], p.get("dob", ""), p["role"]]) for p in case["persons"]]
            writer.writerow(
                [case["case_ref"], case["title"], case["summary"], case["contact"], case["opened"],
                 *("; ".join(cells[t]) for t in types), "; ".join(persons)]
            )  # fmt: skip
    return path
