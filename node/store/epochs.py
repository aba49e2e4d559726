"""Key epochs kept in the store: one row per peer and role, our elements in it, the peer's tags.

The books here are what :mod:`matcher.psi.epoch` reads during a delta session (:class:`InitiatorStoreBook`,
:class:`ResponderStoreBook`): every lookup is one indexed query, so a delta costs its change, not the sets.
Ending an epoch deletes its elements and tags and its sealed scalar; the row stays as the record.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlite_utils import Database

from matcher.psi.epoch import EpochTerms, InitiatorChanges, ResponderChanges

__all__ = [
    "EpochRow",
    "InitiatorStoreBook",
    "ResponderStoreBook",
    "apply_initiator",
    "apply_responder",
    "current_epoch",
    "end_epoch",
    "end_open_epochs",
    "live_elements",
    "matched_elements",
    "open_epoch",
]

_OPEN_EPOCH = (
    "SELECT id, peer, role, epoch_id, key_types, binding, tag_length, initiator_capacity, responder_capacity, "
    "sealed_key, peer_key, next_position, own_total, matched_count, generation, started_at, ends_at, rounds "
    "FROM epochs WHERE peer = ? AND role = ? AND status = 'open'"
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


def _row(values: tuple) -> EpochRow:  # type: ignore[type-arg]
    (row_id, peer, role, epoch_id, key_types, binding, tag_length, ic, rc, sealed, peer_key, nxt, own, matched,
     generation, started, ends, rounds) = values  # fmt: skip
    terms = EpochTerms(bytes.fromhex(epoch_id), tag_length, ic, rc)
    return EpochRow(row_id, peer, role, terms, tuple(key_types.split(",")), binding, sealed, peer_key or b"",
                    nxt, own, matched, generation, started, ends, rounds)  # fmt: skip


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
    """End an epoch and destroy its material: its scalar, our elements in it, the peer's tags."""
    db.execute("DELETE FROM epoch_own WHERE epoch = ?", [row_id])
    db.execute("DELETE FROM epoch_peer WHERE epoch = ?", [row_id])
    db.execute(
        "UPDATE epochs SET status = 'ended', sealed_key = NULL, peer_key = NULL, ended_at = ?, ended_reason = ? "
        "WHERE id = ?",
        [at, reason, row_id],
    )


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


def matched_elements(db: Database, row: EpochRow) -> set[bytes]:
    """Our elements that match in the epoch now: the initiator's flagged positions; the responder's elements
    whose answer is the tag of a live initiator position."""
    if row.role == "initiator":
        sql = "SELECT element FROM epoch_own WHERE epoch = ? AND matched = 1"
    else:
        sql = ("SELECT o.element FROM epoch_own o JOIN epoch_peer p ON p.epoch = o.epoch AND p.tag = o.answer "
               "WHERE o.epoch = ?")  # fmt: skip
    return {bytes(e) for (e,) in db.execute(sql, [row.id])}


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
        found = _one(self._db, "SELECT position FROM epoch_own WHERE epoch = ? AND element = ?", [self.row.id, element])
        return None if found is None else int(found)  # type: ignore[call-overload]

    def element_at(self, position: int) -> bytes | None:
        found = _one(self._db, "SELECT element FROM epoch_own WHERE epoch = ? AND position = ?",
                     [self.row.id, position])  # fmt: skip
        return None if found is None else bytes(found)  # type: ignore[call-overload]

    def is_matched(self, position: int) -> bool:
        found = _one(self._db, "SELECT matched FROM epoch_own WHERE epoch = ? AND position = ?",
                     [self.row.id, position])  # fmt: skip
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
        found = _one(self._db, "SELECT position FROM epoch_peer WHERE epoch = ? AND tag = ?", [self.row.id, tag])
        return None if found is None else int(found)  # type: ignore[call-overload]

    def answer_of(self, element: bytes) -> bytes | None:
        found = _one(self._db, "SELECT answer FROM epoch_own WHERE epoch = ? AND element = ?", [self.row.id, element])
        return None if found is None else bytes(found)  # type: ignore[call-overload]

    def answered(self, answer: bytes) -> bytes | None:
        found = _one(self._db, "SELECT element FROM epoch_own WHERE epoch = ? AND answer = ?", [self.row.id, answer])
        return None if found is None else bytes(found)  # type: ignore[call-overload]


def apply_initiator(db: Database, row_id: int, changes: InitiatorChanges, generation: int) -> None:
    """Write what a completed session changed into the initiator's epoch. Call inside a transaction."""
    db.conn.executemany("DELETE FROM epoch_own WHERE epoch = ? AND position = ?",
                        [(row_id, p) for p in changes.removed])  # fmt: skip
    db.conn.executemany("INSERT INTO epoch_own (epoch, element, position) VALUES (?, ?, ?)",
                        [(row_id, e, p) for p, e in changes.added])  # fmt: skip
    db.conn.executemany("UPDATE epoch_own SET matched = 0 WHERE epoch = ? AND position = ?",
                        [(row_id, p) for p in changes.no_longer_matched])  # fmt: skip
    db.conn.executemany("UPDATE epoch_own SET matched = 1 WHERE epoch = ? AND position = ?",
                        [(row_id, p) for p in changes.now_matched])  # fmt: skip
    last = max((p for p, _ in changes.added), default=-1)
    db.execute(
        "UPDATE epochs SET next_position = MAX(next_position, ?), matched_count = ?, generation = ?, "
        "rounds = rounds + 1 WHERE id = ?",
        [last + 1, changes.matched_count, generation, row_id],
    )


def apply_responder(db: Database, row_id: int, changes: ResponderChanges, announced: int, generation: int) -> None:
    """Write what a completed session changed into the responder's epoch; ``announced`` is how many new
    elements the initiator sent (its positions advance by as many). Call inside a transaction."""
    db.conn.executemany("DELETE FROM epoch_peer WHERE epoch = ? AND position = ?",
                        [(row_id, p) for p in changes.peer_removed])  # fmt: skip
    db.conn.executemany("INSERT INTO epoch_peer (epoch, position, tag) VALUES (?, ?, ?)",
                        [(row_id, p, t) for p, t in changes.peer_added])  # fmt: skip
    db.conn.executemany("DELETE FROM epoch_own WHERE epoch = ? AND element = ?",
                        [(row_id, e) for e in changes.own_removed])  # fmt: skip
    db.conn.executemany("INSERT INTO epoch_own (epoch, element, answer) VALUES (?, ?, ?)",
                        [(row_id, e, a) for e, a in changes.own_added])  # fmt: skip
    db.execute(
        "UPDATE epochs SET next_position = next_position + ?, own_total = own_total + ?, matched_count = ?, "
        "generation = ?, rounds = rounds + 1 WHERE id = ?",
        [announced, len(changes.own_added), changes.matched_count, generation, row_id],
    )
