"""Key epochs kept in the store: one row per peer and role, our elements in it, the peer's tags.

The books here are what :mod:`matcher.psi.epoch` reads during a delta session (:class:`InitiatorStoreBook`,
:class:`ResponderStoreBook`): every lookup is one indexed query, so a delta costs its change, not the sets.
Ending an epoch deletes its elements and tags and its sealed scalar; the row stays as the record.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database

from matcher.psi.epoch import EpochTerms, InitiatorChanges, ResponderChanges
from node.store.key_changes import prune_key_changes
from node.store.keys import session_keys_sql

__all__ = [
    "EpochRow",
    "InitiatorStoreBook",
    "ResponderStoreBook",
    "apply_initiator",
    "apply_responder",
    "current_epoch",
    "end_epoch",
    "end_open_epochs",
    "epoch_changes",
    "live_elements",
    "matched_elements",
    "open_epoch",
    "unsettled_matches",
]

_OPEN_EPOCH = (
    "SELECT id, peer, role, epoch_id, key_types, binding, tag_length, initiator_capacity, responder_capacity, "
    "sealed_key, peer_key, next_position, own_total, matched_count, generation, started_at, ends_at, rounds, "
    "changes_seen FROM epochs WHERE peer = ? AND role = ? AND status = 'open'"
)


@dataclass(frozen=True)
class EpochRow:
    id: int
    peer: str
    role: str
    terms: EpochTerms
    key_types: tuple[str, ...]
    binding: str
    sealed_key: bytes
    peer_key: bytes
    next_position: int
    own_total: int
    matched_count: int
    generation: int
    started_at: str
    ends_at: str
    rounds: int
    changes_seen: int | None  # the last key change the epoch's elements take in (None: compare whole sets)


def _row(values: tuple) -> EpochRow:  # type: ignore[type-arg]
    (row_id, peer, role, epoch_id, key_types, binding, tag_length, ic, rc, sealed, peer_key, nxt, own, matched,
     generation, started, ends, rounds, seen) = values  # fmt: skip
    terms = EpochTerms(bytes.fromhex(epoch_id), tag_length, ic, rc)
    return EpochRow(row_id, peer, role, terms, tuple(key_types.split(",")), binding, sealed, peer_key or b"",
                    nxt, own, matched, generation, started, ends, rounds, seen)  # fmt: skip


def open_epoch(
    db: Database,
    *,
    peer: str,
    role: str,
    terms: EpochTerms,
    key_types: tuple[str, ...],
    binding: str,
    sealed_key: bytes,
    peer_key: bytes,
    started_at: str,
    ends_at: str,
) -> int:
    """A new open epoch with ``peer`` in ``role``; the open one it replaces ends. Call inside a transaction."""
    end_open_epochs(db, peer, role, "replaced by a new epoch", started_at)
    cursor = db.execute(
        "INSERT INTO epochs (peer, role, epoch_id, key_types, binding, tag_length, initiator_capacity, "
        "responder_capacity, sealed_key, peer_key, started_at, ends_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        [peer, role, terms.epoch_id.hex(), ",".join(key_types), binding, terms.tag_length,
         terms.initiator_capacity, terms.responder_capacity, sealed_key, peer_key or None, started_at, ends_at],
    )  # fmt: skip
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def current_epoch(db: Database, peer: str, role: str) -> EpochRow | None:
    """The open epoch with ``peer`` in ``role``, if any (whether it is still valid is the caller's call)."""
    found = db.execute(_OPEN_EPOCH, [peer, role]).fetchone()
    return None if found is None else _row(found)


def end_epoch(db: Database, row_id: int, reason: str, at: str) -> None:
    """End an epoch and destroy its material: its scalar, our elements in it, the peer's tags, and the
    changes only it still needed."""
    db.execute("DELETE FROM epoch_own WHERE epoch = ?", [row_id])
    db.execute("DELETE FROM epoch_peer WHERE epoch = ?", [row_id])
    db.execute(
        "UPDATE epochs SET status = 'ended', sealed_key = NULL, peer_key = NULL, ended_at = ?, ended_reason = ? "
        "WHERE id = ?",
        [at, reason, row_id],
    )
    prune_key_changes(db)


def end_open_epochs(db: Database, peer: str | None, role: str | None, reason: str, at: str) -> int:
    """End every open epoch (with ``peer`` / in ``role`` when given); how many ended."""
    rows = db.execute(
        "SELECT id FROM epochs WHERE status = 'open' AND (? IS NULL OR peer = ?) AND (? IS NULL OR role = ?)",
        [peer, peer, role, role],
    ).fetchall()
    for (row_id,) in rows:
        end_epoch(db, row_id, reason, at)
    return len(rows)


def live_elements(db: Database, row_id: int) -> set[bytes]:
    """Our elements live in an epoch (what its sessions have sent of ours and not withdrawn)."""
    return {bytes(e) for (e,) in db.execute("SELECT element FROM epoch_own WHERE epoch = ?", [row_id])}


def _current_sql(marks: str) -> str:
    """Whether the element ``e.element`` is one of our current keys of the session's types, looked up by
    its index (left to itself SQLite walks every key of the types); parameters: suite, key types."""
    return (
        "SELECT 1 FROM match_keys k INDEXED BY match_keys_by_element JOIN cases c ON c.id = k.case_id"  # noqa: S608
        f" WHERE k.element = e.element AND k.suite = ? AND k.key_type IN ({marks}) AND c.status = 'open'"
    )


def epoch_changes(
    db: Database, row: EpochRow, suite: str, key_types: Sequence[str]
) -> tuple[tuple[bytes, ...], tuple[bytes, ...]]:
    """Our elements a delta of the epoch ``row`` adds (current, not live in the epoch) and withdraws (live,
    no longer current), each sorted. Only the elements changed since the epoch's last session are looked
    at; an epoch from before the change log compares the whole sets, in the store."""
    if not key_types:
        return (), tuple(sorted(live_elements(db, row.id)))
    if row.changes_seen is None:
        return _whole_changes(db, row.id, suite, key_types)
    marks = ", ".join("?" for _ in key_types)
    found = db.execute(
        f"SELECT e.element, EXISTS ({_current_sql(marks)}),"  # noqa: S608  (marks only)
        " EXISTS (SELECT 1 FROM epoch_own o WHERE o.epoch = ? AND o.level IN (0, 1) AND o.element = e.element)"
        " FROM (SELECT DISTINCT element FROM key_changes WHERE seq > ?) e ORDER BY e.element",
        [suite, *key_types, row.id, row.changes_seen],
    ).fetchall()
    added = tuple(bytes(e) for e, current, live in found if current and not live)
    gone = tuple(bytes(e) for e, current, live in found if live and not current)
    return added, gone


def _whole_changes(
    db: Database, row_id: int, suite: str, key_types: Sequence[str]
) -> tuple[tuple[bytes, ...], tuple[bytes, ...]]:
    current = session_keys_sql(key_types)
    new = db.execute(
        f"SELECT DISTINCT q.element FROM ({current}) q WHERE NOT EXISTS "  # noqa: S608  (marks only)
        "(SELECT 1 FROM epoch_own o WHERE o.epoch = ? AND o.level IN (0, 1) AND o.element = q.element)"
        " ORDER BY q.element",
        [suite, *key_types, row_id],
    )
    added = tuple(bytes(e) for (e,) in new)
    marks = ", ".join("?" for _ in key_types)
    gone = db.execute(
        f"SELECT e.element FROM epoch_own e WHERE e.epoch = ? AND NOT EXISTS ({_current_sql(marks)})"  # noqa: S608
        " ORDER BY e.element",
        [row_id, suite, *key_types],
    )
    return added, tuple(bytes(e) for (e,) in gone)


def _matched_in(row: EpochRow) -> str:
    """Our elements ``o`` that match in the epoch now, as FROM and WHERE; parameter: the epoch. The
    initiator's flagged positions; the responder's elements whose answer is a live initiator position's tag."""
    if row.role == "initiator":
        return "FROM epoch_own o WHERE o.epoch = ? AND o.level IN (0, 1) AND o.matched = 1"
    return (
        "FROM epoch_own o CROSS JOIN epoch_peer p ON p.epoch = o.epoch AND p.level IN (0, 1) AND p.tag = o.answer"
        " WHERE o.epoch = ? AND o.level IN (0, 1)"
    )


def _matched_sql(row: EpochRow) -> str:
    return f"SELECT o.element {_matched_in(row)}"


def unsettled_matches(
    db: Database,
    row: EpochRow,
    peer: str,
    suite: str,
    key_types: Sequence[str],
    since: int | None = None,
    touched: frozenset[bytes] = frozenset(),
) -> tuple[frozenset[int], list[tuple[int, str, str, bytes]]]:
    """After a delta: our cases whose alerts with ``peer`` no longer say what matches in the epoch (a key of
    theirs matches and its alert lacks it, or the alert holds a current key that no longer matches or is no
    longer the case's), and every key of those cases that matches now, as (case id, key type, tier,
    element). Only these need recording; every other alert is already right.

    Only cases that hold, or whose alerts hold, an element changed since key change ``since`` or one in
    ``touched`` (whose match the delta changed) are looked at; with ``since`` None every case is."""
    if since is None:
        return _whole_unsettled(db, row, peer, suite, key_types)
    cases = _cases_holding(db, peer, since, touched)
    if not cases:
        return frozenset(), []
    marks = ", ".join("?" for _ in key_types)
    ids = json.dumps(sorted(cases))
    # CROSS JOIN keeps the case ids outermost: each case's keys and alert are then looked up by index
    # (left to itself SQLite walks every alert of the peer and the ids inside it).
    expected = db.execute(
        "SELECT k.case_id, k.key_type, k.tier, k.element FROM json_each(?) j CROSS JOIN match_keys k"  # noqa: S608
        " INDEXED BY match_keys_by_case ON k.case_id = j.value JOIN cases c ON c.id = k.case_id"
        f" WHERE k.suite = ? AND k.key_type IN ({marks}) AND c.status = 'open' AND EXISTS ({_matching_sql(row)})"
        " ORDER BY k.case_id, k.element",
        [ids, suite, *key_types, row.id],
    ).fetchall()
    recorded = db.execute(
        "SELECT a.case_id, k.element FROM json_each(?) j CROSS JOIN alerts a"  # noqa: S608  (marks only)
        " ON a.peer = ? AND a.case_id = j.value"
        f" JOIN alert_keys k ON k.alert_id = a.id WHERE k.current = 1 AND k.key_type IN ({marks})",
        [ids, peer, *key_types],
    )
    now = {(int(c), bytes(e)) for c, _, _, e in expected}
    before = {(int(c), bytes(e)) for c, e in recorded}
    scope = frozenset(c for c, _ in now ^ before)
    return scope, [(int(c), str(t), str(tier), bytes(e)) for c, t, tier, e in expected if int(c) in scope]


def _matching_sql(row: EpochRow) -> str:
    """Whether our key ``k`` matches in the epoch now, looked up by its element; parameter: the epoch."""
    return f"SELECT 1 {_matched_in(row)} AND o.element = k.element"


def _cases_holding(db: Database, peer: str, since: int, touched: frozenset[bytes]) -> set[int]:
    """Our cases that hold an element changed since key change ``since`` or one in ``touched`` as a key, or
    whose alert with ``peer`` holds one. The elements are gathered in a table of this connection's own,
    so each is looked up by index in one statement."""
    db.execute("CREATE TEMP TABLE IF NOT EXISTS delta_elements (element BLOB PRIMARY KEY) WITHOUT ROWID")
    db.execute("DELETE FROM temp.delta_elements")
    db.execute("INSERT OR IGNORE INTO temp.delta_elements SELECT element FROM key_changes WHERE seq > ?", [since])
    db.conn.executemany("INSERT OR IGNORE INTO temp.delta_elements VALUES (?)", [(e,) for e in touched])
    found = db.execute(
        "SELECT k.case_id FROM temp.delta_elements e CROSS JOIN match_keys k INDEXED BY match_keys_by_element"
        " ON k.element = e.element UNION SELECT a.case_id FROM temp.delta_elements e CROSS JOIN alert_keys k"
        " INDEXED BY alert_keys_by_element ON k.element = e.element JOIN alerts a ON a.id = k.alert_id"
        " WHERE a.peer = ?",
        [peer],
    )
    cases = {int(c) for (c,) in found}
    db.execute("DELETE FROM temp.delta_elements")
    return cases


def _whole_unsettled(
    db: Database, row: EpochRow, peer: str, suite: str, key_types: Sequence[str]
) -> tuple[frozenset[int], list[tuple[int, str, str, bytes]]]:
    marks = ", ".join("?" for _ in key_types)
    expected = (
        f"SELECT q.case_id, q.key_type, q.tier, q.element FROM ({session_keys_sql(key_types)}) q"  # noqa: S608
        f" WHERE q.element IN ({_matched_sql(row)})"
    )
    expected_params: list[object] = [suite, *key_types, row.id]
    recorded = (
        "SELECT a.case_id, k.element FROM alerts a JOIN alert_keys k ON k.alert_id = a.id"  # noqa: S608
        f" WHERE a.peer = ? AND k.current = 1 AND k.key_type IN ({marks})"
    )
    recorded_params: list[object] = [peer, *key_types]
    differing = db.execute(
        f"WITH e AS ({expected}), r AS ({recorded}) "  # noqa: S608  (marks only)
        "SELECT case_id FROM (SELECT case_id, element FROM e EXCEPT SELECT case_id, element FROM r) "
        "UNION SELECT case_id FROM (SELECT case_id, element FROM r EXCEPT SELECT case_id, element FROM e)",
        [*expected_params, *recorded_params],
    )
    scope = frozenset(int(c) for (c,) in differing)
    if not scope:
        return scope, []
    rows = db.execute(
        f"SELECT case_id, key_type, tier, element FROM ({expected})"  # noqa: S608
        " WHERE case_id IN (SELECT value FROM json_each(?)) ORDER BY case_id, element",
        [*expected_params, json.dumps(sorted(scope))],
    )
    return scope, [(int(c), str(t), str(tier), bytes(e)) for c, t, tier, e in rows]


def matched_elements(db: Database, row: EpochRow) -> set[bytes]:
    """Our elements that match in the epoch now."""
    return {bytes(e) for (e,) in db.execute(_matched_sql(row), [row.id])}


def _one(db: Database, sql: str, params: list[object]) -> object | None:
    found = db.execute(sql, params).fetchone()
    return None if found is None else found[0]


class InitiatorStoreBook:
    """:class:`matcher.psi.epoch.InitiatorBook` over the store."""

    def __init__(self, db: Database, row: EpochRow) -> None:
        self._db = db
        self.row = row
        self.terms = row.terms
        self.next_position = row.next_position
        self.matched_count = row.matched_count
        self.rounds = row.rounds

    def position_of(self, element: bytes) -> int | None:
        return self.positions_of([element]).get(element)

    def positions_of(self, elements: Sequence[bytes]) -> dict[bytes, int]:
        sql = "SELECT element, position FROM epoch_own WHERE epoch = ? AND level IN (0, 1) AND element IN ({})"
        return {bytes(e): int(p) for e, p in _many(self._db, sql, self.row.id, elements)}

    def element_at(self, position: int) -> bytes | None:
        found = _one(self._db, "SELECT element FROM epoch_own WHERE epoch = ? AND position = ?",
                     [self.row.id, position])  # fmt: skip
        return None if found is None else bytes(found)  # type: ignore[call-overload]

    def is_matched(self, position: int) -> bool:
        # Without the hint SQLite walks the epoch's whole primary key to find one position.
        found = _one(self._db, "SELECT matched FROM epoch_own INDEXED BY epoch_own_by_position "
                     "WHERE epoch = ? AND position = ?", [self.row.id, position])  # fmt: skip
        return bool(found)


class ResponderStoreBook:
    """:class:`matcher.psi.epoch.ResponderBook` over the store."""

    def __init__(self, db: Database, row: EpochRow) -> None:
        self._db = db
        self.row = row
        self.terms = row.terms
        self.peer_key = row.peer_key
        self.next_position = row.next_position
        self.own_total = row.own_total
        self.matched_count = row.matched_count
        self.rounds = row.rounds

    def peer_tag(self, position: int) -> bytes | None:
        found = _one(self._db, "SELECT tag FROM epoch_peer WHERE epoch = ? AND position = ?", [self.row.id, position])
        return None if found is None else bytes(found)  # type: ignore[call-overload]

    def peer_position(self, tag: bytes) -> int | None:
        return self.peer_positions([tag]).get(tag)

    def answer_of(self, element: bytes) -> bytes | None:
        return self.answers_of([element]).get(element)

    def answered(self, answer: bytes) -> bytes | None:
        return self.answered_all([answer]).get(answer)

    def peer_positions(self, tags: Sequence[bytes]) -> dict[bytes, int]:
        sql = "SELECT tag, position FROM epoch_peer WHERE epoch = ? AND level IN (0, 1) AND tag IN ({})"
        return {bytes(t): int(p) for t, p in _many(self._db, sql, self.row.id, tags)}

    def answers_of(self, elements: Sequence[bytes]) -> dict[bytes, bytes]:
        sql = "SELECT element, answer FROM epoch_own WHERE epoch = ? AND level IN (0, 1) AND element IN ({})"
        return {bytes(e): bytes(a) for e, a in _many(self._db, sql, self.row.id, elements)}

    def answered_all(self, answers: Sequence[bytes]) -> dict[bytes, bytes]:
        sql = "SELECT answer, element FROM epoch_own WHERE epoch = ? AND level IN (0, 1) AND answer IN ({})"
        return {bytes(a): bytes(e) for a, e in _many(self._db, sql, self.row.id, answers)}


# How many values one lookup statement takes (SQLite's default limit on parameters is far above it).
_LOOKUP_BATCH = 500


def _many(db: Database, sql: str, epoch: int, keys: Sequence[bytes]) -> list[tuple[Any, Any]]:
    """The rows ``sql`` (its ``{}`` the list of values) finds for ``keys``, looked up in batches by index."""
    rows: list[tuple[Any, Any]] = []
    for start in range(0, len(keys), _LOOKUP_BATCH):
        part = keys[start : start + _LOOKUP_BATCH]
        rows.extend(db.execute(sql.format(", ".join("?" for _ in part)), [epoch, *part]).fetchall())
    return rows


def apply_initiator(
    db: Database, row_id: int, changes: InitiatorChanges, generation: int, changes_seen: int | None = None
) -> None:
    """Write what a completed session changed into the initiator's epoch; ``changes_seen``: the last key
    change the session's elements took in. Call inside a transaction."""
    db.conn.executemany("DELETE FROM epoch_own WHERE epoch = ? AND position = ?",
                        [(row_id, p) for p in changes.removed])  # fmt: skip
    level = _level_for(db, row_id)
    db.conn.executemany("INSERT INTO epoch_own (epoch, level, element, position) VALUES (?, ?, ?, ?)",
                        [(row_id, level, e, p) for p, e in changes.added])  # fmt: skip
    db.conn.executemany("UPDATE epoch_own SET matched = 0 WHERE epoch = ? AND position = ?",
                        [(row_id, p) for p in changes.no_longer_matched])  # fmt: skip
    db.conn.executemany("UPDATE epoch_own SET matched = 1 WHERE epoch = ? AND position = ?",
                        [(row_id, p) for p in changes.now_matched])  # fmt: skip
    last = max((p for p, _ in changes.added), default=-1)
    db.execute(
        "UPDATE epochs SET next_position = MAX(next_position, ?), matched_count = ?, generation = ?, "
        "rounds = rounds + 1, changes_seen = ? WHERE id = ?",
        [last + 1, changes.matched_count, generation, changes_seen, row_id],
    )


def apply_responder(
    db: Database,
    row_id: int,
    changes: ResponderChanges,
    announced: int,
    generation: int,
    changes_seen: int | None = None,
) -> None:
    """Write what a completed session changed into the responder's epoch; ``announced`` is how many new
    elements the initiator sent (its positions advance by as many); ``changes_seen``: the last key change
    the session's elements took in. Call inside a transaction."""
    db.conn.executemany("DELETE FROM epoch_peer WHERE epoch = ? AND position = ?",
                        [(row_id, p) for p in changes.peer_removed])  # fmt: skip
    level = _level_for(db, row_id)
    db.conn.executemany("INSERT INTO epoch_peer (epoch, position, level, tag) VALUES (?, ?, ?, ?)",
                        [(row_id, p, level, t) for p, t in changes.peer_added])  # fmt: skip
    db.conn.executemany("DELETE FROM epoch_own WHERE epoch = ? AND level IN (0, 1) AND element = ?",
                        [(row_id, e) for e in changes.own_removed])  # fmt: skip
    db.conn.executemany("INSERT INTO epoch_own (epoch, level, element, answer) VALUES (?, ?, ?, ?)",
                        [(row_id, level, e, a) for e, a in changes.own_added])  # fmt: skip
    db.execute(
        "UPDATE epochs SET next_position = next_position + ?, own_total = own_total + ?, matched_count = ?, "
        "generation = ?, rounds = rounds + 1, changes_seen = ? WHERE id = ?",
        [announced, len(changes.own_added), changes.matched_count, generation, changes_seen, row_id],
    )


# Level 1 is merged into level 0 once it holds this share of the epoch's rows.
MERGE_SHARE = 8


def _level_for(db: Database, row_id: int) -> int:
    """Where a session's new rows go: level 0 for the full session opening the epoch, level 1 for a delta
    (a few index pages of its own, whatever the size of the whole set)."""
    (rounds,) = db.execute("SELECT rounds FROM epochs WHERE id = ?", [row_id]).fetchone()
    return 0 if rounds == 0 else 1


def merge_levels(db: Database, row_id: int) -> bool:
    """Move level 1 into level 0 once it has grown to 1/MERGE_SHARE of what the epoch has taken in: a
    delta's writes stay few, and the rounds between two merges share the merge's pages. Whether it merged.
    Call inside a transaction, after the session (it writes a page in every part of the epoch)."""
    role, positions, own_total = db.execute(
        "SELECT role, next_position, own_total FROM epochs WHERE id = ?", [row_id]
    ).fetchone()
    sizes = {"epoch_own": positions if role == "initiator" else own_total, "epoch_peer": positions}
    merged = False
    for table, taken_in in sizes.items():
        (recent,) = db.execute(f"SELECT count(*) FROM {table} WHERE epoch = ? AND level = 1", [row_id]).fetchone()  # noqa: S608
        if recent and recent * MERGE_SHARE >= taken_in:
            db.execute(f"UPDATE {table} SET level = 0 WHERE epoch = ? AND level = 1", [row_id])  # noqa: S608
            merged = True
    return merged
