"""Console tables: users, failed logins, what each user has read, and four-eyes proposals."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database

__all__ = [
    "ProposalRecord",
    "UserRecord",
    "add_failure",
    "clear_failures",
    "delete_user",
    "failures_since",
    "forget_failures_before",
    "insert_proposal",
    "insert_user",
    "mark_read",
    "proposal",
    "proposals",
    "read_alert_ids",
    "set_password",
    "set_proposal_decision",
    "user",
    "users",
]


@dataclass(frozen=True)
class UserRecord:
    name: str
    role: str
    password_hash: str
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class ProposalRecord:
    id: int
    kind: str
    alert_id: int | None
    disclosure_id: int | None
    detail: dict[str, Any]
    status: str
    prepared_by: str
    prepared_at: str
    decided_by: str | None
    decided_at: str | None
    disclosure_made: int | None


_USER = "SELECT name, role, password_hash, created_at, updated_at FROM users"
_PROPOSAL = (
    "SELECT id, kind, alert_id, disclosure_id, detail, status, prepared_by, prepared_at, decided_by, decided_at,"
    " disclosure_made FROM proposals"
)


def user(db: Database, name: str) -> UserRecord | None:
    row = db.conn.execute(_USER + " WHERE name = ?", (name,)).fetchone()
    return None if row is None else UserRecord(*row)


def users(db: Database) -> list[UserRecord]:
    return [UserRecord(*row) for row in db.conn.execute(_USER + " ORDER BY name")]


def insert_user(db: Database, name: str, role: str, password_hash: str, at: str) -> None:
    db.conn.execute(
        "INSERT INTO users (name, role, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
        (name, role, password_hash, at, at),
    )


def set_password(db: Database, name: str, password_hash: str, at: str) -> None:
    db.conn.execute("UPDATE users SET password_hash = ?, updated_at = ? WHERE name = ?", (password_hash, at, name))


def delete_user(db: Database, name: str) -> bool:
    cursor = db.conn.execute("DELETE FROM users WHERE name = ?", (name,))
    db.conn.execute("DELETE FROM alert_reads WHERE user = ?", (name,))
    return cursor.rowcount > 0


def add_failure(db: Database, name: str, at: str) -> None:
    db.conn.execute("INSERT INTO login_failures (name, at) VALUES (?, ?)", (name, at))


def failures_since(db: Database, name: str, since: str) -> list[str]:
    """When the failed logins for ``name`` at or after ``since`` happened, oldest first."""
    sql = "SELECT at FROM login_failures WHERE name = ? AND at >= ? ORDER BY at"
    return [row[0] for row in db.conn.execute(sql, (name, since))]


def clear_failures(db: Database, name: str) -> None:
    """Forget ``name``'s failed logins (after a successful one)."""
    db.conn.execute("DELETE FROM login_failures WHERE name = ?", (name,))


def forget_failures_before(db: Database, before: str) -> None:
    """Forget every failed login older than the throttle window."""
    db.conn.execute("DELETE FROM login_failures WHERE at < ?", (before,))


def mark_read(db: Database, name: str, alert_id: int, at: str) -> None:
    db.conn.execute(
        "INSERT OR IGNORE INTO alert_reads (user, alert_id, read_at) VALUES (?, ?, ?)", (name, alert_id, at)
    )


def read_alert_ids(db: Database, name: str) -> set[int]:
    return {row[0] for row in db.conn.execute("SELECT alert_id FROM alert_reads WHERE user = ?", (name,))}


def _proposal(row: tuple[Any, ...]) -> ProposalRecord:
    values = list(row)
    values[4] = json.loads(values[4])
    return ProposalRecord(*values)


def insert_proposal(
    db: Database,
    *,
    kind: str,
    alert_id: int | None,
    disclosure_id: int | None,
    detail: dict[str, Any],
    prepared_by: str,
    at: str,
) -> int:
    cursor = db.conn.execute(
        "INSERT INTO proposals (kind, alert_id, disclosure_id, detail, prepared_by, prepared_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (kind, alert_id, disclosure_id, json.dumps(detail, sort_keys=True), prepared_by, at),
    )
    return int(cursor.lastrowid or 0)


def proposal(db: Database, proposal_id: int) -> ProposalRecord | None:
    row = db.conn.execute(_PROPOSAL + " WHERE id = ?", (proposal_id,)).fetchone()
    return None if row is None else _proposal(row)


def proposals(
    db: Database,
    *,
    status: str | None = None,
    alert_id: int | None = None,
    disclosure_id: int | None = None,
) -> list[ProposalRecord]:
    clauses: list[str] = []
    params: list[Any] = []
    for column, value in (("status", status), ("alert_id", alert_id), ("disclosure_id", disclosure_id)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
    return [_proposal(row) for row in db.conn.execute(_PROPOSAL + where + " ORDER BY id", params)]


def set_proposal_decision(
    db: Database,
    proposal_id: int,
    status: str,
    by: str,
    at: str,
    *,
    disclosure_made: int | None = None,
    reason: str | None = None,
) -> None:
    db.conn.execute(
        "UPDATE proposals SET status = ?, decided_by = ?, decided_at = ?, disclosure_made = ? WHERE id = ?",
        (status, by, at, disclosure_made, proposal_id),
    )
    if reason is not None:
        db.conn.execute(
            "UPDATE proposals SET detail = json_set(detail, '$.rejected_because', ?) WHERE id = ?",
            (reason, proposal_id),
        )
