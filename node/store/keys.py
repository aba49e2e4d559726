"""The match keys a session sends: every key of an open case, of the requested suite and key types."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from sqlite_utils import Database

__all__ = ["SessionKey", "session_keys", "session_keys_sql"]


class SessionKey(NamedTuple):
    case_id: int
    key_type: str
    tier: str
    element: bytes


def session_keys_sql(key_types: Sequence[str]) -> str:
    """The query for the keys a session of ``key_types`` brings: those of open cases, as (case id, key type,
    tier, element); its parameters are the suite, then the key types."""
    marks = ", ".join("?" for _ in key_types)
    return (
        "SELECT k.case_id, k.key_type, k.tier, k.element FROM match_keys k"  # noqa: S608  (marks only)
        " JOIN cases c ON c.id = k.case_id"
        f" WHERE k.suite = ? AND k.key_type IN ({marks}) AND c.status = 'open'"
    )


def session_keys(db: Database, suite: str, key_types: Sequence[str]) -> list[SessionKey]:
    """Keys of open cases (closed cases never match), in key order: the order the session sends them."""
    if not key_types:
        return []
    sql = session_keys_sql(key_types) + " ORDER BY k.id"
    # A session can hold millions of keys: rows are built straight from the cursor, not through dicts.
    return [
        SessionKey(int(case_id), str(key_type), str(tier), bytes(element))
        for case_id, key_type, tier, element in db.execute(sql, (suite, *key_types))
    ]
