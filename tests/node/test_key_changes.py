"""The change log a delta reads: while an epoch is open or a session runs, the store notes every element
whose standing may have changed, and what a delta finds from the log alone -- which of our keys it adds and
withdraws, which cases it must record again -- is exactly what comparing the whole sets finds, in either
role, after any mix of imports, re-imports, closes, reopens, deletes and retention purges. Real SQLite
files, changed through the node's own case operations."""

from __future__ import annotations

import dataclasses
import json
import random
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlite_utils import Database

from crypto import DEFAULT_SUITE, pair_handle
from matcher.psi.epoch import epoch_terms
from node.alerts.book import MatchedKey, record_matches
from node.core.home import NodeHome
from node.ops import Operations
from node.ops import cases as ops_cases
from node.store import open_database, transaction
from node.store.epochs import (
    EpochRow,
    current_epoch,
    end_epoch,
    epoch_changes,
    open_epoch,
    unsettled_matches,
)
from node.store.key_changes import changes_mark, prune_key_changes
from node.store.keys import session_keys
from node.store.retention import purge

PEER, AGENCY, AT = "DE-BKA", "NL-NP", "2026-12-04T10:00:00Z"
KEY_TYPES = ("phone",)
PHONES = [f"+31 6 1234 {i:04d}" for i in range(40)]


def _import(ops: Operations, path: Path, cases: dict[str, list[str]]) -> None:
    lines = [
        json.dumps({"case_ref": ref, "title": "t", "identifiers": [{"type": "phone", "value": p} for p in phones]})
        for ref, phones in cases.items()
    ]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    ops_cases.import_file(ops, path, workers=1)


def _current(db: Database) -> list[bytes]:
    return sorted({k.element for k in session_keys(db, DEFAULT_SUITE.name, KEY_TYPES)})


def _epoch(db: Database, rng: random.Random, role: str = "initiator") -> EpochRow:
    """An epoch in ``role`` holding our current elements, a random third of them matching (an initiator's
    flag; a responder's answer among the peer's tags), every alert recorded as it says, and the change
    log's mark taken now."""
    with transaction(db):
        row_id = open_epoch(db, peer=PEER, role=role, terms=epoch_terms(b"\x42" * 16, 1000, 1000),
                            key_types=KEY_TYPES, binding="b", sealed_key=b"s", peer_key=b"k", started_at=AT,
                            ends_at="2099-01-01T00:00:00Z")  # fmt: skip
        for i, element in enumerate(_current(db)):
            _add_own(db, row_id, role, element, i, rng.random() < 0.35)
        db.execute("UPDATE epochs SET changes_seen = ?, next_position = ? WHERE id = ?",
                   [changes_mark(db), 10_000, row_id])  # fmt: skip
    row = current_epoch(db, PEER, role)
    assert row is not None and row.changes_seen is not None
    _settle(db, row, "s0")
    return row


def _add_own(db: Database, row_id: int, role: str, element: bytes, position: int, matched: bool) -> None:
    if role == "initiator":
        db.execute("INSERT INTO epoch_own (epoch, element, position, matched) VALUES (?, ?, ?, ?)",
                   [row_id, element, position, int(matched)])  # fmt: skip
        return
    answer = element[:8]
    db.execute("INSERT INTO epoch_own (epoch, element, answer) VALUES (?, ?, ?)", [row_id, element, answer])
    if matched:
        db.execute("INSERT INTO epoch_peer (epoch, position, tag) VALUES (?, ?, ?)", [row_id, position, answer])


def _flip(db: Database, row: EpochRow, element: bytes) -> None:
    """The peer's side changed: ``element`` matches now if it did not, and no longer if it did."""
    if row.role == "initiator":
        db.execute("UPDATE epoch_own SET matched = 1 - matched WHERE epoch = ? AND element = ?", [row.id, element])
        return
    gone = db.execute("DELETE FROM epoch_peer WHERE epoch = ? AND tag = ?", [row.id, element[:8]]).rowcount
    if not gone:
        position = db.execute("SELECT COALESCE(MAX(position), 0) + 1 FROM epoch_peer").fetchone()[0]
        db.execute("INSERT INTO epoch_peer (epoch, position, tag) VALUES (?, ?, ?)", [row.id, position, element[:8]])


def _settle(db: Database, row: EpochRow, session: str) -> None:
    whole = dataclasses.replace(row, changes_seen=None)
    with transaction(db):
        scope, found = unsettled_matches(db, whole, PEER, DEFAULT_SUITE.name, KEY_TYPES)
        matched = [MatchedKey(c, t, tier, e, pair_handle(e, AGENCY, PEER)) for c, t, tier, e in found]
        record_matches(db, peer=PEER, session_id=session, key_types=KEY_TYPES, matched=matched, at=AT, scope=scope)
    assert unsettled_matches(db, whole, PEER, DEFAULT_SUITE.name, KEY_TYPES) == (frozenset(), [])


def _change(ops: Operations, tmp_path: Path, rng: random.Random, step: int) -> None:
    """One random change to our cases, through the node's operations."""
    refs = [c.case_ref for c in ops_cases.list_all(ops)]
    what = rng.choice(["import", "reimport", "close", "reopen", "delete", "purge"])
    if what == "purge":
        _purge_one(ops, rng)
        return
    if what == "import" or not refs:
        _import(ops, tmp_path / f"{step}.jsonl", {f"NL-NEW-{step}": rng.sample(PHONES, rng.randint(1, 3))})
    elif what == "reimport":
        _import(ops, tmp_path / f"{step}.jsonl", {rng.choice(refs): rng.sample(PHONES, rng.randint(1, 3))})
    elif what == "close":
        ops_cases.close(ops, rng.choice(refs))
    elif what == "reopen":
        ops_cases.reopen(ops, rng.choice(refs))
    else:
        ops_cases.delete(ops, rng.choice(refs))


def _purge_one(ops: Operations, rng: random.Random) -> None:
    """An alert dismissed long ago, purged by the retention rule while its match stands."""
    with transaction(open_database(ops.home.database)) as db:
        ids = [int(i) for (i,) in db.execute("SELECT id FROM alerts ORDER BY id")]
        if ids:
            db.execute("UPDATE alerts SET status = 'dismissed', updated_at = '2000-01-01T00:00:00+00:00' "
                       "WHERE id = ?", [rng.choice(ids)])  # fmt: skip
            assert purge(db, 30, datetime.now(UTC), actor="cli:operator").alerts == 1


@pytest.mark.parametrize("role", ["initiator", "responder"])
@pytest.mark.parametrize("seed", range(5))
def test_the_change_log_finds_what_comparing_the_whole_sets_finds(
    home: Path, tmp_path: Path, seed: int, role: str
) -> None:
    rng = random.Random(seed)
    ops = Operations(NodeHome(home), "cli:analyst")
    _import(ops, tmp_path / "first.jsonl", {f"NL-{i}": rng.sample(PHONES[:25], rng.randint(1, 3)) for i in range(12)})
    db = open_database(home / "casebridge.db")
    row = _epoch(db, rng, role)
    whole = dataclasses.replace(row, changes_seen=None)
    for step in range(10):
        _change(ops, tmp_path, rng, step)
    _purge_one(ops, rng)
    # The peer's side changed too: some of our elements in the epoch now match, some no longer do.
    live = [bytes(e) for (e,) in db.execute("SELECT element FROM epoch_own WHERE epoch = ?", [row.id])]
    flipped = frozenset(rng.sample(live, 3))
    with transaction(db):
        for element in flipped:
            _flip(db, row, element)
    suite = DEFAULT_SUITE.name
    statements: list[str] = []
    db.conn.set_trace_callback(statements.append)
    changes = epoch_changes(db, row, suite, KEY_TYPES)
    from_log = unsettled_matches(db, row, PEER, suite, KEY_TYPES, since=row.changes_seen, touched=flipped)
    db.conn.set_trace_callback(None)
    assert changes == epoch_changes(db, whole, suite, KEY_TYPES) and changes != ((), ())
    assert from_log == unsettled_matches(db, whole, PEER, suite, KEY_TYPES) and from_log[0]
    # What the log path reads is found by index: it never walks our keys, alerts or the epoch.
    for statement in statements:
        assert not _walks(db, statement), statement


def _walks(db: Database, statement: str) -> list[str]:
    """The tables ``statement`` reads whole (SQLite's SCAN of a stored table, not of a subquery's rows nor
    of the list it works through: case ids in ``json_each`` as ``j``, changed elements in the connection's
    own ``temp.delta_elements`` as ``e``), and any table read outside that list (a search of every alert
    of the peer, once per listed id, is a walk too)."""
    plan = [r[3] for r in db.execute("EXPLAIN QUERY PLAN " + statement).fetchall()]
    subqueries = {line.split()[1] for line in plan if line.startswith(("MATERIALIZE", "CO-ROUTINE"))}
    lists = {"j": r"json_each\([^)]*\) j\b", "e": r"temp\.delta_elements e\b"}
    listed = {alias for alias, source in lists.items() if re.search(source, statement)}
    walks = [line for line in plan if line.startswith("SCAN") and line.split()[1] not in subqueries | listed]
    reads = [line for line in plan if line.startswith(("SCAN", "SEARCH"))]
    if listed and reads and reads[0].split()[:2] not in (["SCAN", alias] for alias in listed):
        walks.append(f"outside the list: {reads[0]}")
    return walks


def test_every_kind_of_case_change_is_logged(home: Path, tmp_path: Path) -> None:
    ops = Operations(NodeHome(home), "cli:analyst")
    db = open_database(home / "casebridge.db")

    def logged_since(mark: int) -> set[bytes]:
        return {bytes(e) for (e,) in db.execute("SELECT element FROM key_changes WHERE seq > ?", [mark])}

    _import(ops, tmp_path / "a.jsonl", {"NL-1": PHONES[:1]})
    assert logged_since(0) == set()  # no epoch open, no session running: whatever loads keys later reads it
    _epoch(db, random.Random(2))
    mark = changes_mark(db)
    _import(ops, tmp_path / "b.jsonl", {"NL-1": PHONES[:2], "NL-2": PHONES[2:3]})
    first = set(_current(db))
    assert len(first) == 3 and logged_since(mark) == first  # NL-1's first phone: removed and added again
    for change in (ops_cases.close, ops_cases.reopen):
        mark = changes_mark(db)
        assert change(ops, "NL-1")
        assert len(logged_since(mark)) == 2 and logged_since(mark) <= first
    mark = changes_mark(db)
    _import(ops, tmp_path / "c.jsonl", {"NL-2": PHONES[3:4]})  # a re-import replaces the case's keys
    assert logged_since(mark) == first ^ set(_current(db)) and len(logged_since(mark)) == 2
    mark = changes_mark(db)
    ops_cases.delete(ops, "NL-1")
    assert len(logged_since(mark)) == 2 and not logged_since(mark) & set(_current(db))


def test_the_log_keeps_what_an_open_epoch_or_a_running_session_has_not_taken_in(home: Path, tmp_path: Path) -> None:
    ops = Operations(NodeHome(home), "cli:analyst")
    _import(ops, tmp_path / "a.jsonl", {"NL-1": PHONES[:3]})
    db = open_database(home / "casebridge.db")
    row = _epoch(db, random.Random(1))
    with transaction(db):  # a full session with another peer, its keys loaded now: no epoch of its own yet
        db.execute("INSERT INTO sessions (session_id, peer, role, mode, key_types, status, own_size, peer_size, "
                   "intersection, started_at, finished_at, day, changes_mark) VALUES "
                   "('s1', 'FR-PN', 'responder', 'mutual', 'phone', 'running', 0, 0, 0, ?, ?, '2026-12-04', ?)",
                   [AT, AT, changes_mark(db)])  # fmt: skip
    _import(ops, tmp_path / "b.jsonl", {"NL-2": PHONES[5:7]})
    with transaction(db):
        db.execute("UPDATE epochs SET changes_seen = ? WHERE id = ?", [changes_mark(db), row.id])
        assert prune_key_changes(db) == 0  # the epoch took the import in; the running session may not have
        db.execute("UPDATE sessions SET status = 'completed'")
        assert prune_key_changes(db) == 2
    _import(ops, tmp_path / "c.jsonl", {"NL-3": PHONES[8:9]})
    with transaction(db):
        assert prune_key_changes(db) == 0  # the epoch has not taken in the third import
        end_epoch(db, row.id, "the epoch ran its time", AT)  # and whatever only it needed goes with it
    assert db.execute("SELECT COUNT(*) FROM key_changes").fetchone() == (0,)
    _import(ops, tmp_path / "d.jsonl", {"NL-4": PHONES[9:10]})
    ops_cases.delete(ops, "NL-4")
    assert db.execute("SELECT COUNT(*) FROM key_changes").fetchone() == (0,)  # nothing open: nothing kept
