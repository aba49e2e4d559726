"""Reading and changing cases already in the store: listing and closing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from sqlite_utils import Database

from node.core.errors import LocalError
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


_LIST_SQL = """
SELECT c.case_ref, c.title, c.status, c.opened,
       (SELECT COUNT(*) FROM identifiers i WHERE i.case_id = c.id),
       (SELECT COUNT(*) FROM persons p WHERE p.case_id = c.id),
       (SELECT COUNT(*) FROM match_keys k WHERE k.case_id = c.id),
       c.updated_at
FROM cases c
WHERE ? = 'all' OR c.status = ?
ORDER BY c.case_ref
"""


def list_cases(db: Database, status: StatusFilter = "all") -> list[CaseRow]:
    return [CaseRow(*row) for row in db.conn.execute(_LIST_SQL, (status, status))]


def close_case(db: Database, case_ref: str) -> bool:
    """Close a case so its keys stop taking part in matching. False if it was already closed."""
    with transaction(db):
        row = db.conn.execute("SELECT id, status FROM cases WHERE case_ref = ?", (case_ref,)).fetchone()
        if row is None:
            raise LocalError(f"no case {case_ref!r} in this node; see 'casebridge cases list'")
        if row[1] == "closed":
            return False
        now = datetime.now(UTC).isoformat(timespec="seconds")
        db.conn.execute("UPDATE cases SET status = 'closed', updated_at = ? WHERE id = ?", (now, row[0]))
    return True
