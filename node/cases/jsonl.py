"""The JSON Lines case file: one JSON object per line (schema in docs/case-file.md)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from matcher.identifiers import Identifier, Person
from node.cases.fields import CASE_FIELDS, FieldProblem, check_case_ref, check_opened, check_text
from node.cases.model import ParsedCase, Problem

__all__ = ["parse_jsonl_line"]

_TOP_FIELDS = frozenset({*CASE_FIELDS, "identifiers", "persons"})
_IDENTIFIER_FIELDS = frozenset({"type", "value", "region", "country", "platform"})
_PERSON_FIELDS = frozenset({"name", "dob", "role"})


def _unknown(obj: dict[str, Any], allowed: frozenset[str]) -> list[str]:
    return sorted(k for k in obj if k not in allowed)


def _optional_str(obj: dict[str, Any], key: str, path: str, problems: list[Problem], line: int) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        problems.append(Problem(line, f"{path}.{key}", "must be a string"))
        return None
    return value


def _identifiers(raw: object, line: int, problems: list[Problem]) -> list[tuple[str, Identifier]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        problems.append(Problem(line, "identifiers", "must be a list of objects"))
        return []
    out: list[tuple[str, Identifier]] = []
    for i, item in enumerate(raw):
        path = f"identifiers[{i}]"
        if not isinstance(item, dict):
            problems.append(Problem(line, path, "must be an object with type and value"))
            continue
        unknown = _unknown(item, _IDENTIFIER_FIELDS)
        if unknown:
            problems.append(Problem(line, f"{path}.{unknown[0]}", "unknown field"))
            continue
        before = len(problems)
        kind = _optional_str(item, "type", path, problems, line)
        value = _optional_str(item, "value", path, problems, line)
        region = _optional_str(item, "region", path, problems, line)
        country = _optional_str(item, "country", path, problems, line)
        platform = _optional_str(item, "platform", path, problems, line)
        if len(problems) > before:
            continue
        if not kind:
            problems.append(Problem(line, f"{path}.type", "required"))
            continue
        if value is None:
            problems.append(Problem(line, f"{path}.value", "required"))
            continue
        out.append((path, Identifier(kind, value, region=region, country=country, platform=platform)))
    return out


def _persons(raw: object, line: int, problems: list[Problem]) -> list[tuple[str, Person]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        problems.append(Problem(line, "persons", "must be a list of objects"))
        return []
    out: list[tuple[str, Person]] = []
    for i, item in enumerate(raw):
        path = f"persons[{i}]"
        if not isinstance(item, dict):
            problems.append(Problem(line, path, "must be an object with name, dob and role"))
            continue
        unknown = _unknown(item, _PERSON_FIELDS)
        if unknown:
            problems.append(Problem(line, f"{path}.{unknown[0]}", "unknown field"))
            continue
        before = len(problems)
        name = _optional_str(item, "name", path, problems, line)
        dob = _optional_str(item, "dob", path, problems, line)
        role = _optional_str(item, "role", path, problems, line)
        if len(problems) > before:
            continue
        if name is None:
            problems.append(Problem(line, f"{path}.name", "required"))
            continue
        out.append((path, Person(name, dob=dob or None, role=role or "unknown")))
    return out


def parse_jsonl_line(line: int, text: str) -> tuple[ParsedCase | None, list[Problem]]:
    """One line of the file; ``None`` with problems when it is not a valid case."""
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
        return None, problems
    return (
        ParsedCase(
            line=line,
            identifiers=tuple(identifiers),
            persons=tuple(persons),
            **fields,
        ),
        [],
    )
