"""What scheduled matching keeps: named counters (the case generation, notification marks, the scheduler's
process) and one row per peer with the state of its rounds."""

from __future__ import annotations

from dataclasses import dataclass

from sqlite_utils import Database

__all__ = [
    "CASES_GENERATION",
    "SCHEDULER_PID",
    "LastSession",
    "RoundRow",
    "bump_marker",
    "last_completed",
    "last_sessions",
    "marker",
    "max_alert_id",
    "max_incoming_request_id",
    "new_alert_ids",
    "new_incoming_request_ids",
    "peers_in_session",
    "round_rows",
    "save_round",
    "set_marker",
]

CASES_GENERATION = "cases.generation"
SCHEDULER_PID = "scheduler.pid"


@dataclass(frozen=True)
class RoundRow:
    peer: str
    covered: int = 0  # the case generation the last completed scheduled round covered
    failures: int = 0  # scheduled rounds failed in a row
    last_cause: str | None = None
    last_at: str | None = None
    last_outcome: str | None = None
    last_error: str | None = None
    next_at: str | None = None
    next_cause: str | None = None


_COLUMNS = "peer, covered, failures, last_cause, last_at, last_outcome, last_error, next_at, next_cause"


def marker(db: Database, name: str) -> int | None:
    row = db.conn.execute("SELECT value FROM markers WHERE name = ?", (name,)).fetchone()
    return None if row is None else int(row[0])


def set_marker(db: Database, name: str, value: int) -> None:
    db.conn.execute(
        "INSERT INTO markers (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value",
        (name, value),
    )


def bump_marker(db: Database, name: str) -> None:
    """Raise a counter by one. Call inside a transaction."""
    db.conn.execute(
        "INSERT INTO markers (name, value) VALUES (?, 1) ON CONFLICT(name) DO UPDATE SET value = value + 1",
        (name,),
    )


def round_rows(db: Database) -> dict[str, RoundRow]:
    rows = db.conn.execute(f"SELECT {_COLUMNS} FROM rounds").fetchall()  # noqa: S608 (a constant)
    return {row[0]: RoundRow(*row) for row in rows}


def save_round(db: Database, row: RoundRow) -> None:
    db.conn.execute(
        f"INSERT OR REPLACE INTO rounds ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)",  # noqa: S608 (a constant)
        (row.peer, row.covered, row.failures, row.last_cause, row.last_at, row.last_outcome, row.last_error,
         row.next_at, row.next_cause),
    )  # fmt: skip


def peers_in_session(db: Database) -> set[str]:
    """Peers with a session running now, in either role (ours or theirs, scheduled or typed)."""
    rows = db.conn.execute("SELECT DISTINCT peer FROM sessions WHERE status = 'running'").fetchall()
    return {str(row[0]) for row in rows}


def max_alert_id(db: Database) -> int:
    return int(db.conn.execute("SELECT COALESCE(MAX(id), 0) FROM alerts").fetchone()[0])


def max_incoming_request_id(db: Database) -> int:
    row = db.conn.execute("SELECT COALESCE(MAX(id), 0) FROM disclosures WHERE direction = 'incoming'").fetchone()
    return int(row[0])


def new_alert_ids(db: Database, after: int, limit: int) -> list[int]:
    rows = db.conn.execute("SELECT id FROM alerts WHERE id > ? ORDER BY id LIMIT ?", (after, limit)).fetchall()
    return [int(row[0]) for row in rows]


def new_incoming_request_ids(db: Database, after: int, limit: int) -> list[int]:
    rows = db.conn.execute(
        "SELECT id FROM disclosures WHERE direction = 'incoming' AND id > ? ORDER BY id LIMIT ?", (after, limit)
    ).fetchall()
    return [int(row[0]) for row in rows]


@dataclass(frozen=True)
class LastSession:
    peer: str
    role: str
    mode: str
    status: str
    finished_at: str
    intersection: int
    reason: str | None
    kind: str


def last_sessions(db: Database) -> dict[str, LastSession]:
    """The last session that ended with each peer, in either role."""
    rows = db.conn.execute(
        "SELECT peer, role, mode, status, finished_at, intersection, reason, kind FROM sessions WHERE id IN"
        " (SELECT MAX(id) FROM sessions WHERE status != 'running' GROUP BY peer)"
    ).fetchall()
    return {row[0]: LastSession(*row) for row in rows}


def last_completed(db: Database) -> dict[str, tuple[str, int]]:
    """Per peer, when the last completed mutual session with it ended, in either role, and the highest case
    generation such a session covered. A mutual session leaves both sides matched on their whole current
    sets (a full session compares them; a delta brings its epoch up to them): a catch-up round is due only
    an interval after it, and a change it covered needs no round of its own."""
    rows = db.conn.execute(
        "SELECT peer, MAX(finished_at), COALESCE(MAX(generation), 0) FROM sessions"
        " WHERE status = 'completed' AND mode = 'mutual' GROUP BY peer"
    ).fetchall()
    return {str(row[0]): (str(row[1]), int(row[2])) for row in rows}
