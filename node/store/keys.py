"""The two questions matching asks of the store, answered from stored elements only."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlite_utils import Database

__all__ = ["cases_owning", "open_elements"]


def open_elements(db: Database, suite: str, key_types: Sequence[str]) -> list[tuple[bytes, str]]:
    """``(element, key_type)`` of every key of an open case whose type is in ``key_types``.

    Closed cases are left out, so closing a case takes it out of every later session. The same element may
    appear more than once (two cases, or two identifiers of one case, sharing a key).
    """
    if not key_types:
        return []
    marks = ", ".join("?" for _ in key_types)
    sql = (
        "SELECT k.element, k.key_type FROM match_keys k JOIN cases c ON c.id = k.case_id"  # noqa: S608
        f" WHERE k.suite = ? AND k.key_type IN ({marks}) AND c.status = 'open'"
    )
    return [(bytes(e), t) for e, t in db.conn.execute(sql, (suite, *key_types))]


def cases_owning(db: Database, suite: str, elements: Iterable[bytes]) -> dict[bytes, list[tuple[str, str, str]]]:
    """For each element, the open cases holding it as ``(case_ref, key_type, tier)``."""
    sql = (
        "SELECT c.case_ref, k.key_type, k.tier FROM match_keys k JOIN cases c ON c.id = k.case_id"
        " WHERE k.element = ? AND k.suite = ? AND c.status = 'open'"
    )
    out: dict[bytes, list[tuple[str, str, str]]] = {}
    for element in elements:
        rows = db.conn.execute(sql, (element, suite)).fetchall()
        if rows:
            out[element] = [(r[0], r[1], r[2]) for r in rows]
    return out
