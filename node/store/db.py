"""Opening the node database with the settings every caller relies on.

* WAL journal: readers (``cases list``, a serving node answering a session) never block the writer and a
  killed process leaves the database consistent; the last committed transaction is always there.
* ``synchronous=FULL``: each commit is fsynced, so a committed import, alert or disclosure step also
  survives a power loss or OS crash, not just a killed process (WAL with NORMAL may roll back the most
  recent commits in that case, and a peer may already have acted on them). Our writes are few and batched
  -- an import of any size is one transaction -- so the extra fsync per commit costs nothing measurable.
* foreign keys on: SQLite leaves them off per connection unless asked.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlite_utils import Database

from node.core.errors import LocalError
from node.core.home import NodeHome
from node.store.migrations import migrate

__all__ = ["open_database", "reading", "transaction", "unit_of_work"]

BUSY_TIMEOUT_MS = 10_000


def open_database(home: NodeHome | Path, *, create: bool = True) -> Database:
    """The node database, migrated to the current schema.

    ``home`` is a :class:`NodeHome` or a path straight to a database file (tests, tools).
    """
    path = home.database if isinstance(home, NodeHome) else home
    if not path.parent.is_dir():
        raise LocalError(
            f"{path.parent}: no node here; check --home or CASEBRIDGE_HOME, or create a node with 'casebridge init'"
        )
    if not create and not path.exists():
        raise LocalError(f"{path}: no database yet; import cases first")
    try:
        db = Database(path, execute_plugins=False)
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        db.enable_wal()
        db.execute("PRAGMA synchronous = FULL")
        db.execute("PRAGMA foreign_keys = ON")
    except Exception as exc:  # sqlite3 errors carry paths at most, never row data
        raise LocalError(f"{path}: cannot open the database ({exc})") from None
    migrate(db)
    return db


@contextmanager
def transaction(db: Database) -> Iterator[Database]:
    """One atomic state change: everything inside commits together or not at all.

    ``BEGIN IMMEDIATE`` takes the write lock up front, so a concurrent writer waits (busy timeout) at the
    start instead of failing half-way through when a deferred transaction tries to upgrade its lock.
    """
    conn = db.conn
    if conn.in_transaction:
        raise LocalError("a transaction is already open on this connection")
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    else:
        conn.execute("COMMIT")


@contextmanager
def unit_of_work(home: NodeHome | Path) -> Iterator[Database]:
    """One connection and one write transaction for one use case; the connection is always closed."""
    db = open_database(home)
    try:
        with transaction(db):
            yield db
    finally:
        db.close()


@contextmanager
def reading(home: NodeHome | Path, *, create: bool = True) -> Iterator[Database]:
    """One connection for reads only (no transaction held); always closed."""
    db = open_database(home, create=create)
    try:
        yield db
    finally:
        db.close()
