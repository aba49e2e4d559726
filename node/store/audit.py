"""The append-only, hash-chained audit log.

Every session, refusal, alert change, disclosure step, policy change and purge appends one entry, inside the
same transaction as the change it records. Entry ``n`` stores ``hash_n = SHA-256(hash_{n-1} || entry_n)``
over a canonical encoding of its own fields, and the newest sequence number and hash are kept apart in
``audit_head``. :func:`verify` recomputes the chain and names the first entry that was changed, deleted or
reordered, and notices a truncated tail.

What it guarantees: any edit to the database made without recomputing the chain is detected. What it does
not: someone who can write the database and knows this format can rebuild a consistent chain; ship the head
hash elsewhere (e.g. print ``audit list --json`` to a log collector) to catch that too.

Entries never hold identifiers, canonical values or key material: callers pass counts, key types, statuses,
ids of our own rows and agency codes only.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database

__all__ = [
    "GENESIS", "AuditEntry", "AuditProblem", "append", "count", "entries", "entries_about", "event_names", "verify",
]  # fmt: skip

GENESIS = "0" * 64

DetailValue = str | int | float | bool | None | list[str] | list[int]


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    at: str
    event: str
    peer: str | None
    subject: str | None
    detail: Mapping[str, Any]
    prev_hash: str
    hash: str

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at,
            "event": self.event,
            "peer": self.peer,
            "subject": self.subject,
            "detail": dict(self.detail),
            "hash": self.hash,
        }


@dataclass(frozen=True)
class AuditProblem:
    seq: int
    what: str

    def __str__(self) -> str:
        return f"entry {self.seq}: {self.what}"


def _digest(prev_hash: str, seq: int, at: str, event: str, peer: str | None, subject: str | None, detail: str) -> str:
    body = json.dumps([seq, at, event, peer, subject, detail], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(f"{prev_hash}\n{body}".encode()).hexdigest()


def append(
    db: Database,
    event: str,
    *,
    at: str,
    peer: str | None = None,
    subject: str | None = None,
    **detail: DetailValue,
) -> AuditEntry:
    """Append one entry. Call inside the transaction of the change it records."""
    conn = db.conn
    head = conn.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
    prev_seq, prev_hash = (head[0], head[1]) if head else (0, GENESIS)
    seq = prev_seq + 1
    detail_json = json.dumps(detail, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    digest = _digest(prev_hash, seq, at, event, peer, subject, detail_json)
    conn.execute(
        "INSERT INTO audit (seq, at, event, peer, subject, detail, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?)",
        (seq, at, event, peer, subject, detail_json, prev_hash, digest),
    )
    conn.execute(
        "INSERT INTO audit_head (id, seq, hash) VALUES (1, ?, ?) "
        "ON CONFLICT(id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
        (seq, digest),
    )
    return AuditEntry(seq, at, event, peer, subject, detail, prev_hash, digest)


@dataclass(frozen=True)
class Pending:
    """An entry to append with :func:`append_many`."""

    event: str
    peer: str | None
    subject: str | None
    detail: Mapping[str, DetailValue]


def append_many(db: Database, pending: Sequence[Pending], *, at: str) -> None:
    """Append ``pending`` in order, as that many :func:`append` calls would, in one statement (a session
    that creates thousands of alerts records them all). Call inside the transaction of the change."""
    if not pending:
        return
    conn = db.conn
    head = conn.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
    seq, digest = (head[0], head[1]) if head else (0, GENESIS)
    rows = []
    for entry in pending:
        prev, seq = digest, seq + 1
        detail_json = json.dumps(entry.detail, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        digest = _digest(prev, seq, at, entry.event, entry.peer, entry.subject, detail_json)
        rows.append((seq, at, entry.event, entry.peer, entry.subject, detail_json, prev, digest))
    conn.executemany(
        "INSERT INTO audit (seq, at, event, peer, subject, detail, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?)", rows
    )
    conn.execute(
        "INSERT INTO audit_head (id, seq, hash) VALUES (1, ?, ?) "
        "ON CONFLICT(id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
        (seq, digest),
    )


def entries(db: Database, *, limit: int | None = None, event: str | None = None) -> list[AuditEntry]:
    """Entries in order (the newest ``limit`` when given; only ``event`` entries when given)."""
    sql = "SELECT seq, at, event, peer, subject, detail, prev_hash, hash FROM audit"
    params: tuple[str, ...] = ()
    if event is not None:
        sql, params = sql + " WHERE event = ?", (event,)
    rows = db.conn.execute(sql + " ORDER BY seq", params).fetchall()
    if limit is not None:
        rows = rows[-limit:] if limit > 0 else []
    return [AuditEntry(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]), r[6], r[7]) for r in rows]


def events_since_by_peer(db: Database, event: str, since: str) -> dict[str, int]:
    """How many ``event`` entries each peer has at or after ``since`` (an ISO timestamp)."""
    sql = "SELECT peer, COUNT(*) FROM audit WHERE event = ? AND at >= ? GROUP BY peer ORDER BY peer"
    return {str(peer or ""): int(n) for peer, n in db.conn.execute(sql, (event, since))}


def count(db: Database) -> int:
    """How many entries the log holds."""
    return db.table("audit").count


def verify(db: Database) -> list[AuditProblem]:
    """Every problem found, in chain order; empty when the log is intact."""
    problems: list[AuditProblem] = []
    rows = db.conn.execute(
        "SELECT seq, at, event, peer, subject, detail, prev_hash, hash FROM audit ORDER BY rowid"
    ).fetchall()
    expected_seq = 1
    prev_hash = GENESIS
    last_seq = 0
    for seq, at, event, peer, subject, detail, stored_prev, stored_hash in rows:
        if seq != expected_seq:
            if seq > expected_seq:
                missing = (
                    f"entry {expected_seq} was" if seq == expected_seq + 1 else f"entries {expected_seq}-{seq - 1} were"
                )
                problems.append(AuditProblem(expected_seq, f"missing ({missing} deleted)"))
            else:
                problems.append(AuditProblem(seq, "out of order (entries were reordered)"))
        if stored_prev != prev_hash:
            # The row before may be the one edited (with its own hash recomputed): name it too.
            before = f"entry {last_seq}" if last_seq else "the start of the log"
            problems.append(
                AuditProblem(
                    seq, f"does not chain to {before} (that entry was changed, or entries were deleted or reordered)"
                )
            )
        if _digest(stored_prev, seq, at, event, peer, subject, detail) != stored_hash:
            problems.append(AuditProblem(seq, f"was changed after it was written ({event} at {at})"))
        prev_hash = stored_hash
        expected_seq = seq + 1
        last_seq = seq
    head = db.conn.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
    if head is not None:
        head_seq, head_hash = head
        if head_seq > last_seq:
            first = last_seq + 1
            span = f"entry {first} was" if first == head_seq else f"entries {first}-{head_seq} were"
            problems.append(AuditProblem(first, f"missing: the newest {span} deleted"))
        elif head_seq < last_seq:
            span = f"entry {last_seq}" if head_seq + 1 == last_seq else f"entries {head_seq + 1}-{last_seq}"
            problems.append(AuditProblem(head_seq + 1, f"not in the chain head: {span} added outside casebridge"))
        elif head_hash != prev_hash:
            problems.append(AuditProblem(last_seq, "differs from the chain head (changed after it was written)"))
    if head is None and rows:
        problems.append(AuditProblem(last_seq, "the chain head record was deleted"))
    return problems


def entries_about(db: Database, subjects: Sequence[str]) -> list[AuditEntry]:
    """Entries whose subject is one of ``subjects``, in order."""
    if not subjects:
        return []
    marks = ", ".join("?" for _ in subjects)
    sql = f"SELECT seq, at, event, peer, subject, detail, prev_hash, hash FROM audit WHERE subject IN ({marks})"  # noqa: S608
    rows = db.conn.execute(sql + " ORDER BY seq", tuple(subjects)).fetchall()
    return [AuditEntry(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]), r[6], r[7]) for r in rows]


def event_names(db: Database) -> list[str]:
    """Every event name the log holds, sorted."""
    return [row[0] for row in db.conn.execute("SELECT DISTINCT event FROM audit ORDER BY event")]
