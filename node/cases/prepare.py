"""Turning case-file lines into rows and match keys; runs in worker processes.

The results are plain tuples and lists so they cross the process boundary cheaply. Canonical key values
are in them: they exist only in memory, between normalising and hashing, and are never written, logged or
put in an error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from matcher.identifiers import InvalidIdentifier, Normalized, normalize_identifier, normalize_person
from node.cases.jsonl import parse_jsonl_line
from node.cases.model import ParsedCase, Problem

__all__ = ["CaseRows", "Prepared", "prepare_jsonl", "prepare_parsed"]

_E = TypeVar("_E")

# (line, case_ref, title, summary, contact, opened)
CaseFields = tuple[int, str, str, str, str, str | None]
# (type, value, region, country, platform) as given
IdentifierRow = tuple[str, str, str | None, str | None, str | None]
# (name, dob, role) as given
PersonRow = tuple[str, str | None, str]
# the case, its identifiers and persons, and how many keys each of those gave (keys follow in that order)
CaseRows = tuple[CaseFields, list[IdentifierRow], list[int], list[PersonRow], list[int]]


@dataclass
class Prepared:
    cases: list[CaseRows] = field(default_factory=list)
    keys: list[tuple[str, str]] = field(default_factory=list)  # (key_type, canonical value)
    tiers: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def extend(self, other: Prepared) -> None:
        self.cases.extend(other.cases)
        self.keys.extend(other.keys)
        self.tiers.extend(other.tiers)
        self.problems.extend(other.problems)


def _problem_at(line: int, path: str, fld: str, reason: str) -> Problem:
    # CSV paths read "column phone, item 2"; JSON paths read "identifiers[2]".
    joined = f"{path}, {fld}" if path.startswith("column ") else f"{path}.{fld}"
    return Problem(line, joined, reason)


def _normalise(
    line: int,
    entries: Iterable[tuple[str, _E]],
    normalise: Callable[[_E], Normalized],
    problems: list[Problem],
    keys: list[tuple[str, str]],
    tiers: list[str],
) -> list[int]:
    """Normalise each entry, appending its keys and tiers; returns how many keys each good entry gave."""
    counts: list[int] = []
    for path, entry in entries:
        try:
            found = normalise(entry).keys
        except InvalidIdentifier as exc:
            problems.append(_problem_at(line, path, exc.field, exc.reason))
            continue
        except Exception as exc:  # a library's own message could quote the value: name only its type
            problems.append(Problem(line, path, f"could not be normalised ({type(exc).__name__})"))
            continue
        counts.append(len(found))
        keys.extend((k.key_type, k.value) for k in found)
        tiers.extend(k.tier.value for k in found)
    return counts


def _add_case(out: Prepared, case: ParsedCase) -> None:
    problems: list[Problem] = []
    keys: list[tuple[str, str]] = []
    tiers: list[str] = []
    ident_counts = _normalise(case.line, case.identifiers, normalize_identifier, problems, keys, tiers)
    person_counts = _normalise(case.line, case.persons, normalize_person, problems, keys, tiers)
    if problems:
        out.problems.extend(problems)
        return
    if out.problems:  # the import will fail anyway; keep only what the error report needs
        return
    out.cases.append(
        (
            (case.line, case.case_ref, case.title, case.summary, case.contact, case.opened),
            [(i.type, i.value, i.region, i.country, i.platform) for _, i in case.identifiers],
            ident_counts,
            [(p.name, p.dob, p.role) for _, p in case.persons],
            person_counts,
        )
    )
    out.keys.extend(keys)
    out.tiers.extend(tiers)


def prepare_jsonl(lines: Sequence[tuple[int, bytes]]) -> Prepared:
    out = Prepared()
    for number, raw in lines:
        try:
            text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError:
            out.problems.append(Problem(number, "", "not UTF-8 text"))
            continue
        case, found = parse_jsonl_line(number, text)
        out.problems.extend(found)
        if case is not None:
            _add_case(out, case)
    return out


def prepare_parsed(cases: Sequence[ParsedCase]) -> Prepared:
    out = Prepared()
    for case in cases:
        _add_case(out, case)
    return out
