"""Which of our keys go into a session, and how a matched position maps back to our cases."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlite_utils import Database

from node.store.epochs import EpochRow, epoch_changes
from node.store.keys import session_keys

__all__ = ["KeyRow", "OurKeys", "SessionInput", "load_session_input"]


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


class OurKeys:
    """Our keys for one session, read only as far as it needs them: all of them for a full session
    (:meth:`elements`, loaded once), only what changed against the epoch for a delta (:meth:`changes`)."""

    def __init__(self, db: Database, suite: str, key_types: Sequence[str]) -> None:
        self._db = db
        self._suite = suite
        self._key_types = tuple(key_types)
        self._loaded: SessionInput | None = None

    def elements(self) -> tuple[bytes, ...]:
        if self._loaded is None:
            self._loaded = load_session_input(self._db, self._suite, self._key_types)
        return tuple(self._loaded.elements)

    def changes(self, epoch: EpochRow) -> tuple[tuple[bytes, ...], tuple[bytes, ...]]:
        """Our elements a delta of the epoch adds and withdraws."""
        return epoch_changes(self._db, epoch, self._suite, self._key_types)

    @property
    def session_input(self) -> SessionInput:
        """The keys loaded for a full session, position for position; none for a delta."""
        return self._loaded if self._loaded is not None else SessionInput(())
