"""The CSV case file: one row per case, one column per identifier type (see docs/case-file.md).

A cell may hold several items, separated by ``;`` or a line break inside the cell. Types that need a
qualifier take it as a prefix before a colon: ``NL:06 1234 5678`` (phone region), ``ROU:X1234567``
(document country), ``NL:AB-123-C`` (plate country), ``instagram:@handle`` (platform). Persons are
``name|dob|role`` with dob and role optional.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator
from typing import TextIO

from matcher.identifiers import IDENTIFIER_TYPES, Identifier, Person
from node.cases.fields import CASE_FIELDS, FieldProblem, check_case_ref, check_opened, check_text
from node.cases.model import ParsedCase, Problem

__all__ = ["CSV_COLUMNS", "parse_csv"]

CSV_COLUMNS: tuple[str, ...] = (*CASE_FIELDS, *sorted(IDENTIFIER_TYPES), "persons")

_ITEM_SPLIT = re.compile(r"[;\n\r]+")
_REGION = re.compile(r"\s*([A-Za-z]{2})\s*:\s*(.*)", re.DOTALL)
_COUNTRY = re.compile(r"\s*([A-Za-z]{1,3})\s*:\s*(.*)", re.DOTALL)
_PLATFORM = re.compile(r"\s*([A-Za-z][A-Za-z0-9_.-]{0,31})\s*:\s*(.*)", re.DOTALL)


def _phone(item: str) -> Identifier:
    m = _REGION.fullmatch(item)
    return Identifier("phone", m[2], region=m[1]) if m else Identifier("phone", item)


def _with_country(kind: str) -> Callable[[str], Identifier]:
    def build(item: str) -> Identifier:
        m = _COUNTRY.fullmatch(item)
        return Identifier(kind, m[2], country=m[1]) if m else Identifier(kind, item)

    return build


def _plain(kind: str) -> Callable[[str], Identifier]:
    def build(item: str) -> Identifier:
        return Identifier(kind, item)

    return build


def _social(item: str) -> Identifier:
    m = _PLATFORM.fullmatch(item)
    return Identifier("social", m[2], platform=m[1]) if m else Identifier("social", item)


_BUILDERS: dict[str, Callable[[str], Identifier]] = {
    "phone": _phone,
    "passport": _with_country("passport"),
    "id_document": _with_country("id_document"),
    "plate": _with_country("plate"),
    "social": _social,
}


def _items(cell: str | None) -> list[str]:
    if not cell:
        return []
    return [part.strip() for part in _ITEM_SPLIT.split(cell) if part.strip()]


def _dialect(sample: str) -> str:
    # Spreadsheets in much of Europe save CSV with ';' because ',' is their decimal separator.
    header = sample.splitlines()[0] if sample else ""
    return ";" if header.count(";") > header.count(",") else ","


def _row_to_case(line: int, row: dict[str, str], problems: list[Problem]) -> ParsedCase | None:
    before = len(problems)
    fields: dict[str, str | None] = {}
    checks: tuple[tuple[str, Callable[[str | None], str | None]], ...] = (
        ("case_ref", lambda v: check_case_ref(v)),
        ("title", lambda v: check_text("title", v, required=True)),
        ("summary", lambda v: check_text("summary", v, required=False)),
        ("contact", lambda v: check_text("contact", v, required=False)),
        ("opened", lambda v: check_opened(v)),
    )
    for name, check in checks:
        try:
            fields[name] = check(row.get(name))
        except FieldProblem as exc:
            problems.append(Problem(line, exc.field, exc.reason))
    identifiers: list[tuple[str, Identifier]] = []
    for kind in sorted(IDENTIFIER_TYPES):
        build = _BUILDERS.get(kind) or _plain(kind)
        for n, item in enumerate(_items(row.get(kind)), start=1):
            identifiers.append((f"column {kind}, item {n}", build(item)))
    persons: list[tuple[str, Person]] = []
    for n, item in enumerate(_items(row.get("persons")), start=1):
        parts = [p.strip() for p in item.split("|")]
        path = f"column persons, item {n}"
        if len(parts) > 3:
            problems.append(Problem(line, path, "write a person as name|dob|role (dob and role optional)"))
            continue
        name, dob, role = (*parts, "", "")[:3]
        persons.append((path, Person(name, dob=dob or None, role=role or "unknown")))
    if len(problems) > before:
        return None
    return ParsedCase(
        line=line,
        case_ref=fields["case_ref"] or "",
        title=fields["title"] or "",
        summary=fields["summary"] or "",
        contact=fields["contact"] or "",
        opened=fields["opened"],
        identifiers=tuple(identifiers),
        persons=tuple(persons),
    )


def parse_csv(stream: TextIO, problems: list[Problem]) -> Iterator[ParsedCase]:
    """Cases of a CSV file in order; problems are appended to ``problems`` as they are found."""
    sample = stream.read(64 * 1024)
    stream.seek(0)
    reader = csv.reader(stream, delimiter=_dialect(sample), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        problems.append(Problem(1, "", f"not valid CSV ({exc})"))
        return
    columns = [h.strip().lower() for h in header]
    unknown = [c for c in columns if c not in CSV_COLUMNS]
    for c in unknown:
        problems.append(Problem(1, f"column {c or '(empty)'}", f"unknown column; known: {', '.join(CSV_COLUMNS)}"))
    seen: set[str] = set()
    for c in columns:
        if c in seen:
            problems.append(Problem(1, f"column {c}", "appears twice in the header"))
        seen.add(c)
    for required in ("case_ref", "title"):
        if required not in seen:
            problems.append(Problem(1, f"column {required}", "required column is missing"))
    if problems:
        return
    last = reader.line_num
    while True:
        start = last + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            # csv's messages describe the syntax ("unexpected end of data"), never cell contents.
            problems.append(Problem(start, "", f"not valid CSV ({exc})"))
            return
        last = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) > len(columns):
            problems.append(Problem(start, "", f"{len(row)} cells but the header has {len(columns)} columns"))
            continue
        case = _row_to_case(start, dict(zip(columns, row, strict=False)), problems)
        if case is not None:
            yield case
