"""Reading and changing cases already in the store: listing and closing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlite_utils import Database

from node.core.clock import SYSTEM, Clock
from node.core.errors import LocalError
from node.store import cases as store
from node.store import transaction

__all__ = ["CaseRow", "StatusFilter", "close_case", "list_cases"]

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


def close_case(db: Database, case_ref: str, *, clock: Clock = SYSTEM) -> bool:
    """Close a case so its keys stop taking part in matching. False if it was already closed."""
    with transaction(db):
        case = store.case_state(db, case_ref)
        if case is None:
            raise LocalError(f"no case {case_ref!r} in this node; see 'casebridge cases list'")
        if case.status == "closed":
            return False
        store.set_case_status(db, case.id, "closed", clock.now_iso())
    return True
