"""Opening the node database with the settings every caller relies on.

* WAL journal: readers (``cases list``, a serving node answering a session) never block the writer and a
  killed process leaves the database consistent; the last committed transaction is always there.
* ``synchronous=FULL``: each commit is fsynced, so a committed import, alert or disclosure step also
  survives a power loss or OS crash, not just a killed process (WAL with NORMAL may roll back the most
  recent commits in that case, and a peer may already have acted on them). Our writes are few and batched
  -- an import of any size is one transaction -- so the extra fsync per commit costs nothing measurable.
* foreign keys on: SQLite leaves them off per connection unless asked.

A database that cannot be used right now -- locked by another process, read-only, unopenable, a disk
error -- raises :class:`~node.core.errors.StoreUnavailable` with one line naming the file and what to do,
wherever SQLite reports it: opening, beginning, inside or committing a transaction.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlite_utils import Database

from node.core.errors import LocalError, StoreUnavailable
from node.core.home import NodeHome
from node.store.migrations import migrate

__all__ = [
    "BUSY_TIMEOUT_MS",
    "LOCK_WAIT_VARIABLE",
    "is_unavailable",
    "lock_wait_ms",
    "open_database",
    "reading",
    "store_unavailable",
    "transaction",
    "unit_of_work",
]

BUSY_TIMEOUT_MS = 10_000
# How long a write waits for another process's write lock; operators on slow disks may raise it.
LOCK_WAIT_VARIABLE = "CASEBRIDGE_LOCK_WAIT_MS"
_MAX_LOCK_WAIT_MS = 600_000


def lock_wait_ms() -> int:
    """The configured lock wait: ``CASEBRIDGE_LOCK_WAIT_MS`` if set, else :data:`BUSY_TIMEOUT_MS`."""
    text = os.environ.get(LOCK_WAIT_VARIABLE, "").strip()
    if not text:
        return BUSY_TIMEOUT_MS
    if not text.isdigit() or not 0 <= int(text) <= _MAX_LOCK_WAIT_MS:
        raise LocalError(f"{LOCK_WAIT_VARIABLE} must be a whole number of milliseconds from 0 to {_MAX_LOCK_WAIT_MS}")
    return int(text)


def store_unavailable(path: Path | str, error: sqlite3.OperationalError) -> StoreUnavailable | None:
    """The one-line error for a database that cannot be used now, or None for any other SQLite error.

    SQLite's own text is matched because Python's ``sqlite3`` only exposes the error code on 3.11+ and
    the extended codes vary; the message is never shown, only the file name and what to do.
    """
    text = str(error).lower()
    if "locked" in text or "busy" in text:
        return StoreUnavailable(f"{path}: database is locked: another process holds the write lock; try again")
    if "readonly" in text or "read-only" in text:
        return StoreUnavailable(f"{path}: database is read-only: check permissions on {path} and its directory")
    if "unable to open" in text:
        return StoreUnavailable(f"{path}: cannot open the database file: check permissions on {Path(path).parent}")
    if "disk i/o" in text or "disk is full" in text:
        return StoreUnavailable(f"{path}: the disk or the database file failed ({text}); check the disk, try again")
    return None


def is_unavailable(error: BaseException) -> bool:
    """Whether ``error`` says the database cannot be used now (locked, read-only, unopenable): our own
    :class:`StoreUnavailable`, or SQLite's error before it was translated."""
    if isinstance(error, StoreUnavailable):
        return True
    return isinstance(error, sqlite3.OperationalError) and store_unavailable("", error) is not None


def _open_failed(path: Path, error: Exception) -> LocalError:
    if isinstance(error, sqlite3.OperationalError) and (unavailable := store_unavailable(path, error)) is not None:
        return unavailable
    return LocalError(f"{path}: cannot open the database ({error})")


def _file_of(db: Database) -> str:
    for row in db.conn.execute("PRAGMA database_list"):
        if row[1] == "main":
            return str(row[2]) or ":memory:"
    return "the node database"


# The page cache a connection may grow to (see open_database).
CACHE_KIB = 64 * 1024


def open_database(home: NodeHome | Path, *, create: bool = True, busy_timeout_ms: int | None = None) -> Database:
    """The node database, migrated to the current schema.

    ``home`` is a :class:`NodeHome` or a path straight to a database file (tests, tools).
    ``busy_timeout_ms`` is how long a write waits for another process's write lock before giving up
    (default: :func:`lock_wait_ms`).
    """
    wait = lock_wait_ms() if busy_timeout_ms is None else busy_timeout_ms
    path = home.database if isinstance(home, NodeHome) else home
    if not path.parent.is_dir():
        raise LocalError(
            f"{path.parent}: no node here; check --home or CASEBRIDGE_HOME, or create a node with 'casebridge init'"
        )
    if not create and not path.exists():
        raise LocalError(f"{path}: no database yet; import cases first")
    try:
        db = Database(path, execute_plugins=False)
    except Exception as exc:  # sqlite3 errors carry paths at most, never row data
        raise _open_failed(path, exc) from None
    try:
        db.execute(f"PRAGMA busy_timeout = {int(wait)}")
        db.enable_wal()
        db.execute("PRAGMA synchronous = FULL")
        db.execute("PRAGMA foreign_keys = ON")
        # Up to 64 MiB of page cache, taken only as pages are read: a session's record writes a few
        # hundred thousand rows into tables with random-keyed indexes, and SQLite's default 2 MiB spills
        # them to the WAL mid-transaction (measured: 200,000-row epoch in 4.9 s with the default, 3.1 s).
        db.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
    except Exception as exc:
        db.close()
        raise _open_failed(path, exc) from None
    try:
        migrate(db)
    except sqlite3.OperationalError as exc:
        db.close()
        raise _open_failed(path, exc) from None
    return db


def open_for_session(home: NodeHome) -> Database:
    """A connection for the epoch book of one running session: its lookups come from whichever worker
    thread runs the session's next step (one at a time), so the connection is not tied to a thread. It
    only reads; the session's changes are written through :func:`open_database` once it completed."""
    db = open_database(home)
    db.close()  # migrated; the session's own connection follows
    try:
        conn = sqlite3.connect(home.database, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {int(lock_wait_ms())}")
    except sqlite3.Error as exc:
        raise _open_failed(home.database, exc) from None
    return Database(conn)


@contextmanager
def transaction(db: Database) -> Iterator[Database]:
    """One atomic state change: everything inside commits together or not at all.

    ``BEGIN IMMEDIATE`` takes the write lock up front, so a concurrent writer waits (busy timeout) at the
    start instead of failing half-way through when a deferred transaction tries to upgrade its lock.
    """
    conn = db.conn
    if conn.in_transaction:
        raise LocalError("a transaction is already open on this connection")
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    except sqlite3.OperationalError as exc:
        if conn.in_transaction:  # a failed COMMIT leaves the transaction open
            conn.execute("ROLLBACK")
        unavailable = store_unavailable(_file_of(db), exc)
        if unavailable is None:
            raise
        raise unavailable from None


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
