"""Key epochs kept in a real SQLite file: delta sessions read their books from the store and leave both
sides with the intersection of the current sets; ending an epoch destroys its material; its scalar is sealed
at rest under the node's epoch key."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from crypto import DEFAULT_SUITE, BlindingKey
from matcher.psi import Role
from matcher.psi.epoch import EpochSession, InitiatorChanges, ResponderChanges, epoch_terms
from node.core.errors import LocalError
from node.core.home import NodeHome
from node.core.sealing import seal, sealing_key, unseal
from node.store import open_database, transaction
from node.store.epochs import (
    InitiatorStoreBook,
    ResponderStoreBook,
    apply_initiator,
    apply_responder,
    current_epoch,
    end_epoch,
    epoch_changes,
    merge_levels,
    open_epoch,
    unsettled_matches,
)
from tests.matcher.psi_helpers import POOL, pump, seeded

EPOCH = b"\x42" * 16
AT = "2026-12-03T10:00:00Z"


def _store(tmp_path: Path, name: str):  # type: ignore[no-untyped-def]
    return open_database(tmp_path / f"{name}.db")


def _session(role: Role, elements: set[bytes], key: BlindingKey, seed: int, book=None, removed=()):  # type: ignore[no-untyped-def]
    return EpochSession(role=role, suite=DEFAULT_SUITE, elements=sorted(elements), random_bytes=seeded(seed),
                        key=key, epoch_id=EPOCH, book=book, removed=sorted(removed), chunk_size=7)  # fmt: skip


def _matched_initiator(db, row_id: int) -> set[bytes]:  # type: ignore[no-untyped-def]
    return {bytes(r[0]) for r in db.execute("SELECT element FROM epoch_own WHERE epoch = ? AND matched = 1", [row_id])}


def _matched_responder(db, row_id: int) -> set[bytes]:  # type: ignore[no-untyped-def]
    rows = db.execute(
        "SELECT o.element FROM epoch_own o CROSS JOIN epoch_peer p ON p.epoch = o.epoch AND p.level IN (0, 1) "
        "AND p.tag = o.answer WHERE o.epoch = ? AND o.level IN (0, 1)", [row_id],
    )  # fmt: skip
    return {bytes(r[0]) for r in rows}


def test_delta_sessions_over_store_books_track_the_intersection(tmp_path: Path) -> None:
    ours_db, theirs_db = _store(tmp_path, "ours"), _store(tmp_path, "theirs")
    r_row = _epoch_rounds(ours_db, theirs_db)
    with transaction(theirs_db):
        end_epoch(theirs_db, r_row, "the epoch's time is up", AT)
    assert current_epoch(theirs_db, "DE-BKA", "responder") is None
    left = theirs_db.execute("SELECT (SELECT COUNT(*) FROM epoch_own) + (SELECT COUNT(*) FROM epoch_peer)").fetchone()
    assert left == (0,)
    assert theirs_db.execute("SELECT sealed_key, peer_key, status FROM epochs").fetchone() == (None, None, "ended")


_LOOKUP = re.compile(r"\b(position|element|tag|answer) (?:= |IN \()")


def test_every_lookup_of_one_row_uses_an_index_on_its_column(tmp_path: Path) -> None:
    """A delta's cost follows its changes only if each per-element lookup is an index search, not a walk over
    the epoch: SQLite's plan for every such statement the books run must search by the looked-up column."""
    ours_db, theirs_db = _store(tmp_path, "ours"), _store(tmp_path, "theirs")
    statements: list[str] = []
    for db in (ours_db, theirs_db):
        db.conn.set_trace_callback(statements.append)
    _epoch_rounds(ours_db, theirs_db)
    for db in (ours_db, theirs_db):
        db.conn.set_trace_callback(None)
    lookups = {s for s in statements if "epoch_own" in s or "epoch_peer" in s if _LOOKUP.search(s)}
    assert len(lookups) > 50 and any(" IN (x'" in s for s in lookups)
    for statement in lookups:
        plan = " ".join(row[3] for row in ours_db.execute("EXPLAIN QUERY PLAN " + statement).fetchall())
        columns = set(_LOOKUP.findall(statement))
        assert "SEARCH" in plan and all(f"{c}=?" in plan for c in columns), (statement[:90], plan)


def _epoch_rounds(ours_db, theirs_db) -> int:  # type: ignore[no-untyped-def]
    """A full session and five deltas over store books on both sides, checked after each; the responder's
    epoch row."""
    a, b = BlindingKey(b"\x0a" * 32), BlindingKey(b"\x0b" * 32)
    rng = random.Random(7)
    ours, theirs = set(POOL[:30]), set(POOL[15:45])
    initiator, responder = _session(Role.INITIATOR, ours, a, 1), _session(Role.RESPONDER, theirs, b, 2)
    pump(initiator, responder)
    assert initiator.terms is not None and responder.terms is not None
    with transaction(ours_db), transaction(theirs_db):
        i_row = open_epoch(ours_db, peer="NL-NP", role="initiator", terms=initiator.terms, key_types=("phone",),
                           binding="b", sealed_key=b"s", peer_key=b"", started_at=AT, ends_at=AT)  # fmt: skip
        r_row = open_epoch(theirs_db, peer="DE-BKA", role="responder", terms=responder.terms,
                           key_types=("phone",), binding="b", sealed_key=b"s", peer_key=a.public_key(),
                           started_at=AT, ends_at=AT)  # fmt: skip
        assert isinstance(initiator.changes, InitiatorChanges) and isinstance(responder.changes, ResponderChanges)
        apply_initiator(ours_db, i_row, initiator.changes, 1)
        apply_responder(theirs_db, r_row, responder.changes, initiator.own_size, 1)
    for generation in range(2, 7):
        next_ours = {e for e in ours if rng.random() > 0.2} | set(rng.sample(POOL, 6))
        next_theirs = {e for e in theirs if rng.random() > 0.2} | set(rng.sample(POOL, 6))
        i_epoch, r_epoch = current_epoch(ours_db, "NL-NP", "initiator"), current_epoch(theirs_db, "DE-BKA", "responder")
        assert i_epoch is not None and r_epoch is not None
        initiator = _session(Role.INITIATOR, next_ours - ours, a, generation * 2,
                             InitiatorStoreBook(ours_db, i_epoch), ours - next_ours)  # fmt: skip
        responder = _session(Role.RESPONDER, next_theirs - theirs, b, generation * 2 + 1,
                             ResponderStoreBook(theirs_db, r_epoch), theirs - next_theirs)  # fmt: skip
        pump(initiator, responder)
        with transaction(ours_db), transaction(theirs_db):
            assert isinstance(initiator.changes, InitiatorChanges)
            assert isinstance(responder.changes, ResponderChanges)
            apply_initiator(ours_db, i_row, initiator.changes, generation)
            apply_responder(theirs_db, r_row, responder.changes, initiator.own_size, generation)
        if generation % 2:  # rows at both levels, merged now and then, as after real sessions
            with transaction(ours_db), transaction(theirs_db):
                merge_levels(ours_db, i_row)
                merge_levels(theirs_db, r_row)
        ours, theirs = next_ours, next_theirs
        assert _matched_initiator(ours_db, i_row) == ours & theirs
        assert _matched_responder(theirs_db, r_row) == ours & theirs
    return r_row


def test_a_sealed_scalar_opens_only_with_its_key_and_binding(tmp_path: Path) -> None:
    home = NodeHome(tmp_path)
    key = sealing_key(home)
    assert sealing_key(home) == key and (tmp_path / "epoch.key").stat().st_mode & 0o077 == 0
    scalar = BlindingKey(bytes(range(32))).secret_bytes()
    sealed = seal(key, scalar, b"NL-NP/initiator/" + EPOCH)
    assert scalar not in sealed
    assert unseal(key, sealed, b"NL-NP/initiator/" + EPOCH) == scalar
    with pytest.raises(LocalError, match="does not open"):
        unseal(key, sealed, b"NL-NP/responder/" + EPOCH)
    with pytest.raises(LocalError, match="does not open"):
        unseal(bytes(32), sealed, b"NL-NP/initiator/" + EPOCH)


def _correlated_lookups(db, statement: str) -> list[str]:  # type: ignore[no-untyped-def]
    """The plan lines SQLite runs once per outer row (inside a correlated subquery) for ``statement``."""
    plan = db.execute("EXPLAIN QUERY PLAN " + statement).fetchall()
    parents = {node: parent for node, parent, _, _ in plan}
    correlated = {node for node, _, _, detail in plan if detail.startswith("CORRELATED")}

    def inside(node: int) -> bool:
        while node in parents:
            node = parents[node]
            if node in correlated:
                return True
        return False

    return [detail for node, _, _, detail in plan if inside(node)]


@pytest.mark.parametrize("key_types", [("phone",), ("phone", "iban")], ids=["one-type", "two-types"])
def test_what_a_delta_reads_of_our_keys_is_looked_up_per_element(tmp_path: Path, key_types: tuple[str, ...]) -> None:
    """Which of our keys a delta adds or withdraws, and which cases it must record, are found in the store;
    each per-element lookup there must search by the element, never walk every key of the session's types
    (a walk per element made a delta at 20,000 keys take longer than the full session)."""
    db = _store(tmp_path, "ours")
    terms = epoch_terms(EPOCH, 10, 10)
    with transaction(db):
        row_id = open_epoch(db, peer="DE-BKA", role="initiator", terms=terms, key_types=key_types,
                            binding="b", sealed_key=b"s", peer_key=b"", started_at=AT, ends_at=AT)  # fmt: skip
    row = current_epoch(db, "DE-BKA", "initiator")
    assert row is not None and row.id == row_id
    statements: list[str] = []
    db.conn.set_trace_callback(statements.append)
    assert epoch_changes(db, row, DEFAULT_SUITE.name, key_types) == ((), ())
    assert unsettled_matches(db, row, "DE-BKA", DEFAULT_SUITE.name, key_types) == (frozenset(), [])
    db.conn.set_trace_callback(None)
    lookups = [line for statement in statements for line in _correlated_lookups(db, statement)]
    assert lookups, "no statement looks rows up per element"
    for line in lookups:
        assert line.startswith("SEARCH") and ("element=?" in line or "rowid=?" in line), line


def _responder_epoch(tmp_path: Path, name: str, size: int):  # type: ignore[no-untyped-def]
    """A responder's epoch whose full session took in ``size`` of the peer's tags and as many of ours."""
    db = _store(tmp_path, name)
    rng = random.Random(size)
    with transaction(db):
        row = open_epoch(db, peer="NL-NP", role="responder", terms=epoch_terms(EPOCH, size, size),
                         key_types=("phone",), binding="b", sealed_key=b"s", peer_key=b"k", started_at=AT,
                         ends_at=AT)  # fmt: skip
        full = ResponderChanges(
            peer_added=tuple((p, rng.randbytes(10)) for p in range(size)), peer_removed=(),
            own_added=tuple((rng.randbytes(32), rng.randbytes(10)) for _ in range(size)), own_removed=(),
            matched_elements=frozenset(), unmatched_elements=frozenset(), matched_count=0,
        )  # fmt: skip
        apply_responder(db, row, full, size, 1)
    return db, row, rng


def _delta(db, row: int, rng: random.Random, start: int, count: int) -> int:  # type: ignore[no-untyped-def]
    """Apply a delta of ``count`` new tags and elements; the bytes its commit wrote to the WAL."""
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    changes = ResponderChanges(
        peer_added=tuple((start + p, rng.randbytes(10)) for p in range(count)), peer_removed=(),
        own_added=tuple((rng.randbytes(32), rng.randbytes(10)) for _ in range(count)), own_removed=(),
        matched_elements=frozenset(), unmatched_elements=frozenset(), matched_count=0,
    )  # fmt: skip
    with transaction(db):
        apply_responder(db, row, changes, count, 2)
    with transaction(db):
        merge_levels(db, row)  # after the session, in a transaction of its own
    return Path(db.conn.execute("PRAGMA database_list").fetchone()[2] + "-wal").stat().st_size


def _levels(db, row: int) -> dict[str, list[tuple[int, int]]]:  # type: ignore[no-untyped-def]
    return {t: db.execute(f"SELECT level, count(*) FROM {t} WHERE epoch = ? GROUP BY level", [row]).fetchall()  # noqa: S608
            for t in ("epoch_own", "epoch_peer")}  # fmt: skip


def test_a_delta_writes_what_it_adds_not_pages_across_the_whole_epoch(tmp_path: Path) -> None:
    # The same delta of 400 new keys into an epoch of 4,000 and into one of 40,000: its rows go to level 1,
    # which sorts apart from the full session's rows, so the commit writes about as much either way (with
    # one level, 400 random keys land on a page in nearly every part of the larger epoch's indexes).
    small, small_row, small_rng = _responder_epoch(tmp_path, "small", 4_000)
    large, large_row, large_rng = _responder_epoch(tmp_path, "large", 40_000)
    small_wal = _delta(small, small_row, small_rng, 4_000, 400)
    large_wal = _delta(large, large_row, large_rng, 40_000, 400)
    assert large_wal < 1.5 * small_wal, (small_wal, large_wal)
    assert _levels(large, large_row) == {"epoch_own": [(0, 40_000), (1, 400)], "epoch_peer": [(0, 40_000), (1, 400)]}
    # Level 1 is merged into level 0 once it holds an eighth of what the epoch took in (with 400 keys a
    # round, at the 15th delta: MERGE_SHARE); lookups find rows at either level.
    for start in range(40_400, 40_000 + 16 * 400, 400):
        _delta(large, large_row, large_rng, start, 400)
    merged = [(0, 40_000 + 15 * 400), (1, 400)]
    assert _levels(large, large_row) == {"epoch_own": merged, "epoch_peer": merged}
    epoch = current_epoch(large, "NL-NP", "responder")
    assert epoch is not None
    book = ResponderStoreBook(large, epoch)
    for position in (0, 39_999, 40_000, 45_999, 46_000, 46_399):
        tag = book.peer_tag(position)
        assert tag is not None and book.peer_position(tag) == position
