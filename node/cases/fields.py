"""Checks shared by both case-file forms: the case's own fields (not its identifiers)."""

from __future__ import annotations

import re
from datetime import date

__all__ = ["CASE_FIELDS", "FieldProblem", "check_case_ref", "check_opened", "check_text"]

CASE_FIELDS = ("case_ref", "title", "summary", "contact", "opened")

_CASE_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:#-]{0,99}")
_MAX_TEXT = {"title": 500, "summary": 20_000, "contact": 500}


class FieldProblem(ValueError):
    """A case field is wrong; ``field`` and ``reason`` become a :class:`~node.cases.model.Problem`."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def check_case_ref(value: object) -> str:
    # A case reference is the agency's own handle for the case, not an identifier of a person: it is
    # safe to repeat in messages, so it is kept to a plain, printable alphabet.
    if not isinstance(value, str) or not value.strip():
        raise FieldProblem("case_ref", "required, a non-empty string")
    ref = value.strip()
    if not _CASE_REF.fullmatch(ref):
        raise FieldProblem(
            "case_ref", "use at most 100 characters: letters, digits and . _ / : # - (starting alphanumeric)"
        )
    return ref


def check_text(field: str, value: object, *, required: bool) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise FieldProblem(field, "required, a non-empty string")
        return ""
    if not isinstance(value, str):
        raise FieldProblem(field, "must be a string")
    text = value.strip()
    limit = _MAX_TEXT[field]
    if len(text) > limit:
        raise FieldProblem(field, f"longer than {limit} characters")
    return text


def check_opened(value: object) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise FieldProblem("opened", "must be a date string YYYY-MM-DD")
    text = value.strip()
    if len(text) != 10:
        raise FieldProblem("opened", "must be a date YYYY-MM-DD")
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise FieldProblem("opened", "not a real calendar date (YYYY-MM-DD)") from None
