"""Reading the cases already in the store (changing them is a use case: see ``node.ops.cases``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlite_utils import Database

from node.store import cases as store

__all__ = ["CaseRow", "StatusFilter", "list_cases"]

StatusFilter = Literal["open", "closed", "all"]


@dataclass(frozen=True)
class CaseRow:
    case_ref: str
    title: str
    status: str
    opened: str | None
    identifiers: int
    persons: int
    keys: int
    updated_at: str

    def as_json(self) -> dict[str, str | int | None]:
        return {
            "case_ref": self.case_ref,
            "title": self.title,
            "status": self.status,
            "opened": self.opened,
            "identifiers": self.identifiers,
            "persons": self.persons,
            "keys": self.keys,
            "updated_at": self.updated_at,
        }


def list_cases(db: Database, status: StatusFilter = "all") -> list[CaseRow]:
    return [
        CaseRow(c.case_ref, c.title, c.status, c.opened, c.identifiers, c.persons, c.keys, c.updated_at)
        for c in store.case_listing(db, status)
    ]
