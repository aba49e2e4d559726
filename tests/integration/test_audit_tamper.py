"""Editing the audit log behind casebridge's back: ``casebridge audit verify`` fails and names the entry.

The log comes from a real node (sessions with two peers over mutual TLS, alert changes through the CLI);
each test edits a copy of that node's SQLite file the way someone with file access would.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import pytest

from node.store import audit as audit
from tests.integration.conftest import AGENCIES, Federation, LoopThread, cli

pytestmark = pytest.mark.timeout(120)

NL, DE, RO = AGENCIES
COLUMNS = "at, event, peer, subject, detail, prev_hash, hash"

Tamper = Callable[[sqlite3.Connection, int], set[int]]
"""Edits the log of ``n`` entries and returns the sequence numbers verify must name."""


@pytest.fixture(scope="module")
def logged_home(template: Path, loop_thread: LoopThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """NL-NP's home after sessions with both peers and two alert decisions: a dozen real audit entries."""
    root = tmp_path_factory.mktemp("audit") / "federation"
    shutil.copytree(template, root)
    federation = Federation(root=root, loop=loop_thread)
    try:
        for code in AGENCIES:
            federation.serve_in_process(code)
        federation.publish_addresses()
        federation.match(NL, DE)
        federation.match(NL, RO)
        first, second = (a["id"] for a in federation.alerts(NL)[:2])
        federation.cli_parallel(
            [
                (NL, ["alerts", "dismiss", str(first), "--reason", "shared hotel line"]),
                (NL, ["alerts", "confirm", str(second)]),
            ]
        )
    finally:
        federation.stop_all()
    yield federation.home(NL)


def _count(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT COUNT(*) FROM audit").fetchone()[0])


def change_detail(conn: sqlite3.Connection, n: int) -> set[int]:
    conn.execute("UPDATE audit SET detail = replace(detail, '\"', '\"x') WHERE seq = 3")
    return {3}


def change_event(conn: sqlite3.Connection, n: int) -> set[int]:
    conn.execute("UPDATE audit SET event = 'alert.confirmed' WHERE seq = 4")
    return {4}


def change_time(conn: sqlite3.Connection, n: int) -> set[int]:
    conn.execute("UPDATE audit SET at = '2020-01-01T00:00:00+00:00' WHERE seq = 2")
    return {2}


def change_peer(conn: sqlite3.Connection, n: int) -> set[int]:
    conn.execute("UPDATE audit SET peer = 'FR-GN' WHERE seq = ?", (n - 1,))
    return {n - 1}


def change_and_rehash(conn: sqlite3.Connection, n: int) -> set[int]:
    """Someone who knows the format recomputes the edited row's own hash (but not the rest of the chain)."""
    seq, at, event, peer, subject, detail, prev_hash = conn.execute(
        "SELECT seq, at, event, peer, subject, detail, prev_hash FROM audit WHERE seq = 5"
    ).fetchone()
    detail = detail.replace("}", ',"note":"edited"}')
    digest = audit._digest(prev_hash, seq, at, event, peer, subject, detail)
    conn.execute("UPDATE audit SET detail = ?, hash = ? WHERE seq = 5", (detail, digest))
    return {5}


def change_and_rehash_last(conn: sqlite3.Connection, n: int) -> set[int]:
    seq, at, event, peer, subject, detail, prev_hash = conn.execute(
        "SELECT seq, at, event, peer, subject, detail, prev_hash FROM audit WHERE seq = ?", (n,)
    ).fetchone()
    detail = detail.replace("}", ',"note":"edited"}')
    digest = audit._digest(prev_hash, seq, at, event, peer, subject, detail)
    conn.execute("UPDATE audit SET detail = ?, hash = ? WHERE seq = ?", (detail, digest, n))
    return {n}


def delete_first(conn: sqlite3.Connection, n: int) -> set[int]:
    conn.execute("DELETE FROM audit WHERE seq = 1")
    return {1}


def delete_middle(conn: sqlite3.Connection, n: int) -> set[int]:
    conn.execute("DELETE FROM audit WHERE seq = 6")
    return {6}


def delete_last(conn: sqlite3.Connection, n: int) -> set[int]:
    conn.execute("DELETE FROM audit WHERE seq = ?", (n,))
    return {n}


def delete_last_three(conn: sqlite3.Connection, n: int) -> set[int]:
    conn.execute("DELETE FROM audit WHERE seq > ?", (n - 3,))
    return {n - 2, n - 1, n}


def swap_contents(conn: sqlite3.Connection, n: int) -> set[int]:
    """Two rows exchange everything but their sequence numbers: the order of events is rewritten."""
    first = conn.execute(f"SELECT {COLUMNS} FROM audit WHERE seq = 3").fetchone()  # noqa: S608 (fixed names)
    second = conn.execute(f"SELECT {COLUMNS} FROM audit WHERE seq = 7").fetchone()  # noqa: S608
    assign = ", ".join(f"{c} = ?" for c in COLUMNS.split(", "))
    conn.execute(f"UPDATE audit SET {assign} WHERE seq = 3", second)  # noqa: S608
    conn.execute(f"UPDATE audit SET {assign} WHERE seq = 7", first)  # noqa: S608
    return {3, 7}


def swap_neighbours(conn: sqlite3.Connection, n: int) -> set[int]:
    """Two adjacent rows exchange their sequence numbers."""
    conn.execute("UPDATE audit SET seq = -1 WHERE seq = 4")
    conn.execute("UPDATE audit SET seq = 4 WHERE seq = 5")
    conn.execute("UPDATE audit SET seq = 5 WHERE seq = -1")
    return {4, 5}


def append_forged(conn: sqlite3.Connection, n: int) -> set[int]:
    """A well-formed entry chained onto the last one, written straight into the table."""
    prev_hash = conn.execute("SELECT hash FROM audit WHERE seq = ?", (n,)).fetchone()[0]
    row = (n + 1, "2026-01-01T00:00:00+00:00", "alert.dismissed", DE, "alert:1", "{}")
    digest = audit._digest(prev_hash, *row)
    conn.execute("INSERT INTO audit VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (*row, prev_hash, digest))
    return {n + 1}


TAMPERING: list[Tamper] = [
    change_detail,
    change_event,
    change_time,
    change_peer,
    change_and_rehash,
    change_and_rehash_last,
    delete_first,
    delete_middle,
    delete_last,
    delete_last_three,
    swap_contents,
    swap_neighbours,
    append_forged,
]

_NAMED = re.compile(r"\bentr(?:y|ies) (\d+)(?:-(\d+))?")


def named_entries(message: str) -> set[int]:
    """Every entry number a verify message names, ranges ("entries 4-6") expanded."""
    named: set[int] = set()
    for start, end in _NAMED.findall(message):
        named.update(range(int(start), int(end or start) + 1))
    return named


def test_an_untouched_log_verifies(logged_home: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    shutil.copytree(logged_home, home)
    with closing(sqlite3.connect(home / "casebridge.db")) as conn:
        assert _count(conn) >= 10
    result = cli(home, "audit", "verify", check=False)
    assert result.returncode == 0, result.stderr
    assert "intact" in result.stdout


@pytest.mark.parametrize("tamper", TAMPERING, ids=lambda t: t.__name__)
def test_editing_a_row_fails_verify_and_names_the_entry(logged_home: Path, tmp_path: Path, tamper: Tamper) -> None:
    home = tmp_path / "home"
    shutil.copytree(logged_home, home)
    with closing(sqlite3.connect(home / "casebridge.db")) as conn, conn:
        expected = tamper(conn, _count(conn))

    result = cli(home, "audit", "verify", check=False)

    assert result.returncode == 1, result.stdout
    assert "audit log broken" in result.stderr and "Traceback" not in result.stderr
    named = named_entries(result.stderr)
    assert expected <= named, f"expected entries {sorted(expected)} named, got:\n{result.stderr}"
