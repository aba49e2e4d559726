"""A database another process has locked, or one we may only read: one line naming the file, never a traceback.

The lock is real: a second connection holds ``BEGIN EXCLUSIVE`` on the same file. Read-only is real too:
SQLite opens a file it may not write read-only, which is what ``mode=ro`` asks for directly (chmod alone
does not do it here, because root may write any file); ``PRAGMA query_only`` is the per-connection form.
Both make SQLite itself answer "attempt to write a readonly database".
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlite_utils import Database

from node.cases.synthetic import synthetic_cases, write_jsonl
from node.core.errors import LocalError, StoreUnavailable
from node.core.home import NodeHome
from node.store import open_database, transaction
from node.store.db import BUSY_TIMEOUT_MS, LOCK_WAIT_VARIABLE, lock_wait_ms

SHORT_MS = 50


def _database(home: Path) -> Path:
    path = NodeHome(home).database
    open_database(path).close()  # created and migrated
    return path


@contextmanager
def _write_lock(path: Path) -> Iterator[None]:
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        yield
        holder.execute("ROLLBACK")
    finally:
        holder.close()


def _write(db: Database) -> None:
    db.execute("INSERT INTO _migrations (name, applied_at) VALUES ('probe', 'now')")


def test_a_locked_database_raises_store_unavailable_at_begin(home: Path) -> None:
    path = _database(home)
    db = open_database(path, busy_timeout_ms=SHORT_MS)
    try:
        with _write_lock(path), pytest.raises(StoreUnavailable) as caught, transaction(db):
            _write(db)
        message = str(caught.value)
        assert message == f"{path}: database is locked: another process holds the write lock; try again"
        assert not db.conn.in_transaction
        with transaction(db):  # the lock released, the same connection writes again
            _write(db)
    finally:
        db.close()


def test_a_locked_fresh_database_raises_store_unavailable_while_opening(tmp_path: Path) -> None:
    path = tmp_path / "casebridge.db"
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("PRAGMA journal_mode = WAL")
        holder.execute("BEGIN EXCLUSIVE")
        with pytest.raises(StoreUnavailable, match="another process holds the write lock; try again"):
            open_database(path, busy_timeout_ms=SHORT_MS)
    finally:
        holder.close()


def test_a_database_opened_read_only_raises_store_unavailable(home: Path) -> None:
    path = _database(home)
    db = Database(sqlite3.connect(f"file:{path}?mode=ro", uri=True))
    try:
        with pytest.raises(StoreUnavailable) as caught, transaction(db):
            _write(db)
        assert str(caught.value) == (f"{path}: database is read-only: check permissions on {path} and its directory")
    finally:
        db.close()


def test_a_query_only_connection_raises_store_unavailable_inside_the_transaction(home: Path) -> None:
    path = _database(home)
    db = open_database(path)
    try:
        db.execute("PRAGMA query_only = ON")
        with pytest.raises(StoreUnavailable, match="read-only: check permissions on"), transaction(db):
            _write(db)
        assert not db.conn.in_transaction
    finally:
        db.close()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes files whatever their mode")
def test_a_read_only_file_raises_store_unavailable(home: Path) -> None:
    path = _database(home)
    for file in path.parent.glob(path.name + "*"):
        file.chmod(0o444)
    path.parent.chmod(0o555)
    try:
        with pytest.raises(StoreUnavailable, match=r"read-only|cannot open"):
            db = open_database(path)
            with transaction(db):
                _write(db)
    finally:
        path.parent.chmod(0o755)


def test_other_sqlite_errors_are_not_hidden(home: Path) -> None:
    db = open_database(_database(home))
    try:
        with pytest.raises(sqlite3.OperationalError, match="no such table"), transaction(db):
            db.execute("INSERT INTO no_such_table VALUES (1)")
    finally:
        db.close()


def _cli_locked(home: Path, path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    with _write_lock(path):
        # The CLI waits its whole lock wait (shortened here through the operator's variable), then gives up.
        return subprocess.run(
            [sys.executable, "-m", "node.cli", "--home", str(home), *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
            env={**os.environ, LOCK_WAIT_VARIABLE: "1000"},
        )


def _one_line_locked(done: subprocess.CompletedProcess[str], path: Path) -> None:
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines == [f"Error: {path}: database is locked: another process holds the write lock; try again"]


def test_cases_import_with_the_database_locked_prints_one_line_and_exits_1(home: Path, tmp_path: Path) -> None:
    path = _database(home)
    cases = write_jsonl(synthetic_cases(3, seed=1), tmp_path / "cases.jsonl")
    _one_line_locked(_cli_locked(home, path, "cases", "import", str(cases)), path)
    count = sqlite3.connect(path).execute("SELECT COUNT(*) FROM cases").fetchone()[0]
    assert count == 0


def test_alerts_confirm_with_the_database_locked_prints_one_line_and_exits_1(home: Path) -> None:
    path = _database(home)
    _one_line_locked(_cli_locked(home, path, "alerts", "confirm", "1"), path)


def test_the_lock_wait_is_the_operators_variable_and_a_bad_value_is_named(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(LOCK_WAIT_VARIABLE, raising=False)
    assert lock_wait_ms() == BUSY_TIMEOUT_MS
    monkeypatch.setenv(LOCK_WAIT_VARIABLE, "250")
    db = open_database(_database(home))
    try:
        assert db.execute("PRAGMA busy_timeout").fetchone()[0] == 250
    finally:
        db.close()
    for bad in ("soon", "-5", "900000"):
        monkeypatch.setenv(LOCK_WAIT_VARIABLE, bad)
        with pytest.raises(LocalError, match=f"^{LOCK_WAIT_VARIABLE} must be a whole number of milliseconds"):
            open_database(_database(home))
