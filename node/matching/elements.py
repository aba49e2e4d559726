"""Which of our keys go into a session, and how a matched position maps back to our cases."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlite_utils import Database

__all__ = ["KeyRow", "SessionInput", "load_session_input"]


@dataclass(frozen=True)
class KeyRow:
    case_id: int
    key_type: str
    tier: str
    element: bytes


@dataclass(frozen=True)
class SessionInput:
    """The elements in session order and, position for position, the key each came from."""

    rows: tuple[KeyRow, ...]

    @property
    def elements(self) -> list[bytes]:
        return [row.element for row in self.rows]


def load_session_input(db: Database, suite: str, key_types: Sequence[str]) -> SessionInput:
    """Every key of an open case whose type is in ``key_types`` (closed cases never match)."""
    if not key_types:
        return SessionInput(())
    marks = ", ".join("?" for _ in key_types)
    sql = (
        "SELECT k.case_id, k.key_type, k.tier, k.element FROM match_keys k"  # noqa: S608  (marks only)
        " JOIN cases c ON c.id = k.case_id"
        f" WHERE k.suite = ? AND k.key_type IN ({marks}) AND c.status = 'open' ORDER BY k.id"
    )
    rows = tuple(KeyRow(r[0], r[1], r[2], bytes(r[3])) for r in db.conn.execute(sql, (suite, *key_types)))
    return SessionInput(rows)
