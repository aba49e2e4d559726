"""What a parsed case file holds, and the one error an invalid file raises."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from matcher.identifiers import Identifier, Person
from node.core.errors import LocalError

__all__ = ["MAX_REPORTED_ERRORS", "CaseFileError", "ImportSummary", "ParsedCase", "Problem"]

# Enough to fix a systematic mistake in one go without flooding the terminal.
MAX_REPORTED_ERRORS = 20


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a case file. ``field`` is a path such as ``identifiers[2].value``.

    ``reason`` never contains an identifier value: it comes from our own wording or from
    :class:`~matcher.identifiers.InvalidIdentifier`, which makes the same promise.
    """

    line: int
    field: str
    reason: str

    def render(self, source: str) -> str:
        where = f"{source}:{self.line}" if self.line else source
        return f"{where}: {self.field}: {self.reason}" if self.field else f"{where}: {self.reason}"


class CaseFileError(LocalError):
    """The case file is invalid; nothing was imported. The message lists the first problems found."""

    def __init__(self, source: str, problems: Sequence[Problem], *, truncated: bool = False) -> None:
        self.source = source
        self.problems = tuple(problems)
        lines = [p.render(source) for p in self.problems]
        more = " (showing the first ones)" if truncated else ""
        head = f"{source}: {len(lines)} problem(s) found{more}; nothing was imported"
        super().__init__("\n".join([head, *lines]) if len(lines) > 1 else f"{lines[0]}; nothing was imported")


@dataclass(frozen=True)
class ParsedCase:
    """One case as the file gave it, before normalisation. ``line`` is where it starts (1-based).

    ``identifiers`` and ``persons`` pair each entry with the path used to name it in errors.
    """

    line: int
    case_ref: str
    title: str
    summary: str
    contact: str
    opened: str | None
    identifiers: tuple[tuple[str, Identifier], ...]
    persons: tuple[tuple[str, Person], ...]


@dataclass(frozen=True)
class ImportSummary:
    cases_added: int
    cases_updated: int
    identifiers: int
    persons: int
    keys: int
    seconds: float

    def as_json(self) -> dict[str, int | float]:
        return {
            "cases_added": self.cases_added,
            "cases_updated": self.cases_updated,
            "identifiers": self.identifiers,
            "persons": self.persons,
            "keys": self.keys,
            "seconds": round(self.seconds, 3),
        }
