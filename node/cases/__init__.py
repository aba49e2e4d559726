"""An agency's cases: the case file (JSON Lines or CSV), its import, listing and closing."""

from __future__ import annotations

from node.cases.importer import CaseFormat, ImportProgress, format_for, import_case_file
from node.cases.model import CaseFileError, ImportSummary, ParsedCase, Problem
from node.cases.registry import CaseRow, StatusFilter, list_cases

__all__ = [
    "CaseFileError",
    "CaseFormat",
    "CaseRow",
    "ImportProgress",
    "ImportSummary",
    "ParsedCase",
    "Problem",
    "StatusFilter",
    "format_for",
    "import_case_file",
    "list_cases",
]
