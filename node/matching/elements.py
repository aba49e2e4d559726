"""Which of our keys go into a session, and how a matched position maps back to our cases."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlite_utils import Database

from node.store.keys import session_keys

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
    return SessionInput(
        tuple(KeyRow(k.case_id, k.key_type, k.tier, k.element) for k in session_keys(db, suite, key_types))
    )
