"""Persons: name + date of birth keys that survive scripts, spellings, name order and a day/month slip."""

from __future__ import annotations

import datetime
import re

import jellyfish

from matcher.identifiers.model import PERSON_ROLES, InvalidIdentifier, MatchKey, Normalized, Person, Tier
from matcher.identifiers.translit import spellings

__all__ = ["normalize_person"]

_DOB = re.compile(r"\d{4}-\d{2}-\d{2}")
_MIN_YEAR = 1850
# Dropped from phonetic codes: vowels and the letters that stand for vowels or nothing in transliterated
# Arabic and Cyrillic (matres lectionis, soft signs, the ayn's apostrophe). What is left is a consonant
# skeleton, which is what survives between "محمد" (MHMD) and "Mohammed".
_WEAK_LETTERS = str.maketrans("", "", "AEIOUYHW")


def _parse_dob(dob: str | None) -> datetime.date | None:
    if dob is None or not dob.strip():
        return None
    text = dob.strip()
    if not _DOB.fullmatch(text):
        raise InvalidIdentifier("dob", "a date of birth is written YYYY-MM-DD, e.g. 1990-04-12")
    try:
        date = datetime.date.fromisoformat(text)
    except ValueError:
        raise InvalidIdentifier("dob", "not a real calendar date (check day and month)") from None
    if date.year < _MIN_YEAR:
        raise InvalidIdentifier("dob", f"a date of birth before {_MIN_YEAR} is not plausible")
    return date


def _phonetic(tokens: tuple[str, ...]) -> str:
    codes = []
    for token in tokens:
        code = jellyfish.metaphone(token).upper()
        skeleton = code.translate(_WEAK_LETTERS)
        codes.append(skeleton or code or token)
    return " ".join(sorted(codes))


def _swapped(date: datetime.date) -> str | None:
    if date.day > 12 or date.day == date.month:
        return None
    try:
        datetime.date(date.year, date.day, date.month)
    except ValueError:
        return None
    low, high = sorted((date.month, date.day))
    return f"{date.year:04d}-{low:02d}/{high:02d}"


def normalize_person(person: Person) -> Normalized:
    """Keys for a name with a full date of birth; a name alone gives no keys (names alone never match).

    * ``person-name-dob`` (medium): sorted transliterated tokens ``|`` ISO dob, once per distinct spelling
      (general transliteration and passport spelling, see :mod:`matcher.identifiers.translit`).
    * ``person-phonetic-dob`` (weak): per token the consonant skeleton of its Metaphone code, sorted,
      ``|`` dob. Catches spelling variants (Mueller/Muller, Yulia/Yuliya) and many Arabic-script names
      whose transliteration has no vowels.
    * ``person-name-dob-swapped`` (weak): sorted tokens ``|`` year and the unordered day/month pair, only
      when swapping day and month gives another valid date. The pair is unordered so that 1990-04-12 on
      one side and 1990-12-04 on the other produce the same value under the same key type; it therefore
      also matches identical dates, which the medium key already reports.

    ``canonical`` is the first spelling's tokens, ``|`` dob when there is one.
    """
    if person.role not in PERSON_ROLES:
        raise InvalidIdentifier("role", "must be one of " + ", ".join(sorted(PERSON_ROLES)))
    date = _parse_dob(person.dob)
    variants = spellings(person.name)
    if not variants:
        raise InvalidIdentifier("name", "no letters left in the name after transliteration")
    primary = " ".join(variants[0])
    if date is None:
        return Normalized("person", primary, ())
    dob = date.isoformat()
    names = [" ".join(tokens) for tokens in variants]
    keys = [MatchKey("person-name-dob", Tier.MEDIUM, f"{name}|{dob}") for name in names]
    keys += [MatchKey("person-phonetic-dob", Tier.WEAK, f"{_phonetic(t)}|{dob}") for t in variants]
    swapped = _swapped(date)
    if swapped is not None:
        keys += [MatchKey("person-name-dob-swapped", Tier.WEAK, f"{name}|{swapped}") for name in names]
    return Normalized("person", f"{primary}|{dob}", tuple(dict.fromkeys(keys)))
