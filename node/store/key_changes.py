"""The change log a delta reads (``key_changes``): every element of ours whose standing may have changed,
noted while an open epoch or a running session may take the change in. New keys are noted by the store's
writer (:func:`node.store.cases.insert_match_keys`); removed keys, closed or reopened cases and removed
alert keys by triggers (migrations 0009 to 0011). What reads it is :mod:`node.store.epochs`."""

from __future__ import annotations

from sqlite_utils import Database

__all__ = ["changes_mark", "changes_wanted", "prune_key_changes"]


def changes_mark(db: Database) -> int:
    """The number of the last key change noted: a session loading our keys now takes in every change up to
    it (each change is noted in its own transaction)."""
    found = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'key_changes'").fetchone()
    return 0 if found is None else int(found[0])


def prune_key_changes(db: Database) -> int:
    """Forget the key changes every open epoch and every running session has taken in; how many went."""
    cursor = db.execute(
        "DELETE FROM key_changes WHERE seq <= (SELECT MIN(mark) FROM ("
        " SELECT changes_seen AS mark FROM epochs WHERE status = 'open' AND changes_seen IS NOT NULL"
        " UNION ALL SELECT changes_mark FROM sessions WHERE status = 'running' AND changes_mark IS NOT NULL"
        " UNION ALL SELECT seq FROM sqlite_sequence WHERE name = 'key_changes'))"
    )
    return cursor.rowcount


def changes_wanted(db: Database) -> bool:
    """Whether an open epoch or a running session may take in a change made now (call with the write lock;
    both are found by partial indexes)."""
    found = db.execute(
        "SELECT EXISTS (SELECT 1 FROM epochs WHERE status = 'open') "
        "OR EXISTS (SELECT 1 FROM sessions WHERE status = 'running')"
    ).fetchone()
    return bool(found[0])
