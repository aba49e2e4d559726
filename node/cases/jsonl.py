"""The JSON Lines case file: one JSON object per line (schema in docs/case-file.md)."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Iterator
from typing import Any

from matcher.identifiers import Identifier, Person
from node.cases.fields import CASE_FIELDS, FieldProblem, check_case_ref, check_opened, check_text
from node.cases.model import ParsedCase, Problem

__all__ = ["parse_jsonl_line"]

_TOP_FIELDS = frozenset({*CASE_FIELDS, "identifiers", "persons"})
# In the order their problems are reported.
_IDENTIFIER_FIELDS = ("type", "value", "region", "country", "platform")
_PERSON_FIELDS = ("name", "dob", "role")


def _unknown(obj: dict[str, Any], allowed: Collection[str]) -> list[str]:
    return sorted(k for k in obj if k not in allowed)


def _optional_str(obj: dict[str, Any], key: str, path: str, problems: list[Problem], line: int) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        problems.append(Problem(line, f"{path}.{key}", "must be a string"))
        return None
    return value


def _objects(
    raw: object, name: str, fields: tuple[str, ...], shape: str, line: int, problems: list[Problem]
) -> Iterator[tuple[str, tuple[str | None, ...]]]:
    """Each entry of the list ``name`` whose fields are all strings or absent: its path and those fields in order.

    Anything else is recorded in ``problems`` and skipped; a missing list is an empty one.
    """
    if raw is None:
        return
    if not isinstance(raw, list):
        problems.append(Problem(line, name, "must be a list of objects"))
        return
    for i, item in enumerate(raw):
        path = f"{name}[{i}]"
        if not isinstance(item, dict):
            problems.append(Problem(line, path, f"must be an object with {shape}"))
            continue
        unknown = _unknown(item, fields)
        if unknown:
            problems.append(Problem(line, f"{path}.{unknown[0]}", "unknown field"))
            continue
        before = len(problems)
        values = tuple(_optional_str(item, key, path, problems, line) for key in fields)
        if len(problems) == before:
            yield path, values


def _identifiers(raw: object, line: int, problems: list[Problem]) -> list[tuple[str, Identifier]]:
    out: list[tuple[str, Identifier]] = []
    for path, (kind, value, region, country, platform) in _objects(
        raw, "identifiers", _IDENTIFIER_FIELDS, "type and value", line, problems
    ):
        if not kind:
            problems.append(Problem(line, f"{path}.type", "required"))
            continue
        if value is None:
            problems.append(Problem(line, f"{path}.value", "required"))
            continue
        out.append((path, Identifier(kind, value, region=region, country=country, platform=platform)))
    return out


def _persons(raw: object, line: int, problems: list[Problem]) -> list[tuple[str, Person]]:
    out: list[tuple[str, Person]] = []
    for path, (name, dob, role) in _objects(raw, "persons", _PERSON_FIELDS, "name, dob and role", line, problems):
        if name is None:
            problems.append(Problem(line, f"{path}.name", "required"))
            continue
        out.append((path, Person(name, dob=dob or None, role=role or "unknown")))
    return out


def parse_jsonl_line(line: int, text: str) -> tuple[ParsedCase | None, list[Problem]]:
    """One line of the file and its problems.

    With problems, the case returned (if any) holds only what did parse, so that its identifiers and persons
    can still be checked and every problem of the line reported at once; it is never imported.
    """
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        # exc.msg is the parser's wording ("Expecting ',' delimiter"); the offending text is not quoted.
        return None, [Problem(line, "", f"not valid JSON ({exc.msg} at column {exc.colno})")]
    if not isinstance(obj, dict):
        return None, [Problem(line, "", "each line must be one JSON object (a case)")]
    problems: list[Problem] = [Problem(line, k, "unknown field") for k in _unknown(obj, _TOP_FIELDS)]
    fields: dict[str, Any] = {}
    checks: Iterable[tuple[str, Any]] = (
        ("case_ref", lambda: check_case_ref(obj.get("case_ref"))),
        ("title", lambda: check_text("title", obj.get("title"), required=True)),
        ("summary", lambda: check_text("summary", obj.get("summary"), required=False)),
        ("contact", lambda: check_text("contact", obj.get("contact"), required=False)),
        ("opened", lambda: check_opened(obj.get("opened"))),
    )
    for name, check in checks:
        try:
            fields[name] = check()
        except FieldProblem as exc:
            problems.append(Problem(line, exc.field, exc.reason))
    identifiers = _identifiers(obj.get("identifiers"), line, problems)
    persons = _persons(obj.get("persons"), line, problems)
    if problems:
        if not (identifiers or persons):
            return None, problems
        partial = ParsedCase(
            line=line,
            case_ref=fields.get("case_ref") or "",
            title=fields.get("title") or "",
            summary=fields.get("summary") or "",
            contact=fields.get("contact") or "",
            opened=fields.get("opened"),
            identifiers=tuple(identifiers),
            persons=tuple(persons),
        )
        return partial, problems
    return (
        ParsedCase(
            line=line,
            identifiers=tuple(identifiers),
            persons=tuple(persons),
            **fields,
        ),
        [],
    )
