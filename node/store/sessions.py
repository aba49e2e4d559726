"""The sessions table: every PSI session we took part in, and the daily quota it counts against."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from sqlite_utils import Database

from node.core.errors import RemoteError
from node.core.processes import alive

__all__ = [
    "SessionIdReused",
    "SessionRecord",
    "claim_session",
    "close_orphaned_initiators",
    "completed_sessions",
    "finish_session",
    "initiator_running",
    "keys_blinded_since",
    "keys_charged_since",
    "mark_interrupted",
    "record_refusal",
    "set_own_size",
    "start_session",
]


class SessionIdReused(RemoteError):
    """The peer opened a session under an id it had used with us before."""


@dataclass(frozen=True)
class SessionRecord:
    session_id: str  # hex
    peer: str
    role: str  # initiator | responder
    mode: str
    key_types: Sequence[str]
    status: str  # completed | failed | refused
    own_size: int
    peer_size: int
    intersection: int
    started_at: str
    finished_at: str
    day: str
    reason: str | None = None
    kind: str = "full"  # full | delta


def _values(record: SessionRecord) -> tuple[object, ...]:
    return (
        record.session_id,
        record.peer,
        record.role,
        record.mode,
        json.dumps(list(record.key_types)),
        record.status,
        record.own_size,
        record.peer_size,
        record.intersection,
        record.started_at,
        record.finished_at,
        record.day,
        record.reason,
        record.kind,
    )


_INSERT = (
    "INSERT INTO sessions (session_id, peer, role, mode, key_types, status, own_size, peer_size,"
    " intersection, started_at, finished_at, day, reason, kind) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)


def start_session(db: Database, record: SessionRecord) -> None:
    """Record a new session. A session id the peer already used with us is refused: ids are the peer's
    choice, and a reused one would overwrite the row its quota is counted from. Call inside a transaction.
    """
    try:
        db.conn.execute(_INSERT, _values(record))
    except sqlite3.IntegrityError:
        raise SessionIdReused("the peer reused a session id; every session needs a new one") from None


def finish_session(db: Database, record: SessionRecord) -> None:
    """Record how a session we started ended (a session never recorded as started is inserted).

    Only a running session changes: a finished one keeps its outcome. Call inside a transaction.
    """
    db.conn.execute(
        _INSERT + " ON CONFLICT(session_id, peer, role) DO UPDATE SET status = excluded.status,"
        " own_size = excluded.own_size, peer_size = excluded.peer_size, intersection = excluded.intersection,"
        " finished_at = excluded.finished_at, reason = excluded.reason WHERE sessions.status = 'running'",
        _values(record),
    )


def record_refusal(db: Database, record: SessionRecord) -> None:
    """Keep a refused session's row unless its id is already recorded (then the refusal is only audited)."""
    db.conn.execute(_INSERT.replace("INSERT", "INSERT OR IGNORE", 1), _values(record))


def keys_charged_since(db: Database, peer: str, since: str, floor: int, kind: str = "full") -> int:
    """What ``peer``'s sessions of ``kind`` since ``since`` count against its quota for that kind: each
    session it opened with us at least ``floor`` keys (a tiny or empty session still costs), each we opened
    what it announced."""
    row = db.conn.execute(
        "SELECT COALESCE(SUM(CASE WHEN role = 'responder' THEN MAX(peer_size, ?) ELSE peer_size END), 0)"
        " FROM sessions WHERE peer = ? AND started_at >= ? AND status != 'refused' AND kind = ?",
        (floor, peer, since, kind),
    ).fetchone()
    return int(row[0])


def keys_blinded_since(db: Database, peer: str, since: str) -> int:
    """Our own keys blinded for sessions ``peer`` opened with us since ``since``: the work it made us do."""
    row = db.conn.execute(
        "SELECT COALESCE(SUM(own_size), 0) FROM sessions"
        " WHERE peer = ? AND role = 'responder' AND started_at >= ? AND status != 'refused'",
        (peer, since),
    ).fetchone()
    return int(row[0])


def set_own_size(
    db: Database, session_id: str, peer: str, role: str, own_size: int, generation: int, changes_mark: int
) -> None:
    """Record a running session's own size once it is known, so concurrent sessions see its work, the case
    generation its elements were loaded at and the last key change they take in (kept in the change log
    while the session runs)."""
    db.conn.execute(
        "UPDATE sessions SET own_size = ?, generation = ?, changes_mark = ?"
        " WHERE session_id = ? AND peer = ? AND role = ? AND status = 'running'",
        (own_size, generation, changes_mark, session_id, peer, role),
    )


def initiator_running(db: Database, peer: str) -> bool:
    """Whether a session we opened with ``peer`` is running now (in any process of this node)."""
    row = db.conn.execute(
        "SELECT 1 FROM sessions WHERE peer = ? AND role = 'initiator' AND status = 'running' LIMIT 1", (peer,)
    ).fetchone()
    return row is not None


def completed_sessions(db: Database, peer: str, role: str) -> int:
    """How many sessions with ``peer`` in ``role`` completed."""
    return db.table("sessions").count_where("peer = ? AND role = ? AND status = 'completed'", [peer, role])


def mark_interrupted(db: Database, at: str, role: str = "responder") -> list[str]:
    """Sessions of ``role`` left 'running' by a node that stopped mid-session become 'failed'; returns their ids.

    Call inside a transaction, before serving: no responder session can be running in a node that is only
    starting. (Initiator sessions belong to ``match`` processes, which may be running now: see
    :func:`close_orphaned_initiators`.) They keep counting against the daily quota, since their keys were
    announced.
    """
    ids = [
        r[0]
        for r in db.conn.execute(
            "SELECT session_id FROM sessions WHERE status = 'running' AND role = ? ORDER BY id", (role,)
        )
    ]
    db.conn.execute(
        "UPDATE sessions SET status = 'failed', finished_at = ?,"
        " reason = 'interrupted: the node stopped during the session' WHERE status = 'running' AND role = ?",
        (at, role),
    )
    return ids


# While an initiator session runs, its reason names the process running it: a `match` killed mid-session
# leaves the row 'running', and the next node process on this home closes it once that process is gone.
_OWNER = "owner pid "


def claim_session(db: Database, session_id: str, peer: str, role: str) -> None:
    """Mark a running session as this process's. Call inside a transaction."""
    db.conn.execute(
        "UPDATE sessions SET reason = ? WHERE session_id = ? AND peer = ? AND role = ? AND status = 'running'",
        (f"{_OWNER}{os.getpid()}", session_id, peer, role),
    )


def close_orphaned_initiators(db: Database, at: str) -> list[str]:
    """Running sessions whose owning process is gone become 'failed' (interrupted); returns their ids.

    Call inside a transaction. Sessions of live processes (another ``match`` running now) are left alone.
    """
    rows = db.conn.execute(
        "SELECT id, session_id, reason FROM sessions WHERE status = 'running' AND reason LIKE ?", (f"{_OWNER}%",)
    ).fetchall()
    closed: list[str] = []
    for row_id, session_id, reason in rows:
        pid = str(reason)[len(_OWNER) :]
        if pid.isdigit() and int(pid) != os.getpid() and not alive(int(pid)):
            db.conn.execute(
                "UPDATE sessions SET status = 'failed', finished_at = ?,"
                " reason = 'interrupted: the matching process stopped during the session' WHERE id = ?",
                (at, row_id),
            )
            closed.append(session_id)
    return closed
