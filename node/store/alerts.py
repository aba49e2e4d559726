"""The alert tables: one alert per (peer, own case), and the matched keys behind it."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from sqlite_utils import Database

__all__ = [
    "AlertKeyRecord",
    "AlertRecord",
    "AlertState",
    "AlertTierKey",
    "KeyUpsert",
    "MatchedAgain",
    "NewAlert",
    "TierChange",
    "alert_case_id",
    "alert_keys",
    "alert_state",
    "alerted_case_refs",
    "alerts",
    "alerts_left_without_keys",
    "best_handle",
    "current_key_count",
    "first_alert_with_handle",
    "insert_alerts",
    "mark_gone",
    "mark_keys_not_current",
    "mark_matched_again",
    "mark_safeguarding",
    "newest_alert_id",
    "next_alert_id",
    "peer_alerts_by_case",
    "peer_key_tiers",
    "set_alert_status",
    "set_tiers",
    "upsert_keys",
]


class NewAlert(NamedTuple):
    id: int
    peer: str
    case_id: int
    tier: str
    created_at: str
    updated_at: str
    last_matched_at: str


class MatchedAgain(NamedTuple):
    last_matched_at: str
    id: int


class KeyUpsert(NamedTuple):
    alert_id: int
    key_type: str
    tier: str
    element: bytes
    match_handle: bytes
    first_session: str
    last_session: str
    first_seen: str
    last_seen: str


class TierChange(NamedTuple):
    tier: str
    id: int


@dataclass(frozen=True)
class AlertState:
    id: int
    peer: str
    status: str
    match_state: str


@dataclass(frozen=True)
class AlertTierKey:
    """One key of one of a peer's alerts, with the alert's stored tier."""

    alert_id: int
    alert_tier: str
    key_type: str
    tier: str
    current: bool


@dataclass(frozen=True)
class AlertRecord:
    id: int
    peer: str
    case_ref: str
    tier: str
    status: str
    match_state: str
    created_at: str
    updated_at: str
    reason: str | None
    safeguarding: bool


@dataclass(frozen=True)
class AlertKeyRecord:
    alert_id: int
    key_type: str
    tier: str
    match_handle: bytes
    current: bool
    first_seen: str
    last_seen: str


# --- folding a session in ---------------------------------------------------------------------------


_IN_SCOPE = " AND a.case_id IN (SELECT value FROM json_each(?))"


def _scoped(scope: Collection[int] | None) -> tuple[str, list[object]]:
    """The condition (on alias ``a``) and parameter limiting a query to the cases in ``scope`` (None: all)."""
    return ("", []) if scope is None else (_IN_SCOPE, [json.dumps(sorted(scope))])


def peer_alerts_by_case(db: Database, peer: str, scope: Collection[int] | None = None) -> dict[int, AlertState]:
    """The peer's alerts (of the cases in ``scope`` when given), by our case id."""
    where, params = _scoped(scope)
    rows = db.query(
        "SELECT a.id, a.case_id, a.peer, a.status, a.match_state FROM alerts a WHERE a.peer = ?" + where,  # noqa: S608  (a fixed condition)
        [peer, *params],
    )
    return {int(r["case_id"]): AlertState(int(r["id"]), r["peer"], r["status"], r["match_state"]) for r in rows}


def next_alert_id(db: Database) -> int:
    """One past the largest alert id; the caller holds the write lock, so no other writer takes it."""
    return int(db.execute("SELECT COALESCE(MAX(id), 0) FROM alerts").fetchone()[0]) + 1


def insert_alerts(db: Database, rows: Iterable[NewAlert]) -> None:
    db.conn.executemany(
        "INSERT INTO alerts (id, peer, case_id, tier, status, match_state, created_at, updated_at,"
        " last_matched_at) VALUES (?, ?, ?, ?, 'new', 'current', ?, ?, ?)",
        rows,
    )


def mark_matched_again(db: Database, rows: Iterable[MatchedAgain]) -> None:
    db.conn.executemany(
        "UPDATE alerts SET match_state = 'current', gone_since = NULL, last_matched_at = ? WHERE id = ?", rows
    )


def upsert_keys(db: Database, rows: Iterable[KeyUpsert]) -> None:
    """Insert matched keys; a key already on its alert only has its last sighting moved and is current again."""
    db.conn.executemany(
        "INSERT INTO alert_keys (alert_id, key_type, tier, element, match_handle, first_session,"
        " last_session, first_seen, last_seen, current) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1)"
        " ON CONFLICT(alert_id, element) DO UPDATE SET last_seen = excluded.last_seen,"
        " match_handle = excluded.match_handle,"
        " last_session = excluded.last_session, current = 1",
        rows,
    )


def mark_keys_not_current(
    db: Database, peer: str, session_id: str, key_types: Sequence[str], scope: Collection[int] | None = None
) -> None:
    """Keys of ``peer``'s alerts (of the cases in ``scope`` when given), of ``key_types``, that session
    ``session_id`` did not match again."""
    where, params = _scoped(scope)
    marks = ", ".join("?" for _ in key_types)
    db.execute(
        "UPDATE alert_keys SET current = 0 WHERE current = 1 AND key_type IN ("  # noqa: S608  (marks only)
        + marks
        + ") AND last_session != ? AND alert_id IN (SELECT a.id FROM alerts a WHERE a.peer = ?"
        + where
        + ")",
        (*key_types, session_id, peer, *params),
    )


def alerts_left_without_keys(db: Database, peer: str, scope: Collection[int] | None = None) -> list[int]:
    """Ids of ``peer``'s current alerts (of the cases in ``scope`` when given) without a current key."""
    where, params = _scoped(scope)
    rows = db.query(
        "SELECT a.id FROM alerts a WHERE a.peer = ? AND a.match_state = 'current'"  # noqa: S608  (a fixed condition)
        " AND NOT EXISTS (SELECT 1 FROM alert_keys k WHERE k.alert_id = a.id AND k.current = 1)" + where,
        [peer, *params],
    )
    return [int(r["id"]) for r in rows]


def mark_gone(db: Database, alert_id: int, at: str) -> None:
    db.table("alerts").update(alert_id, {"match_state": "gone", "gone_since": at, "updated_at": at})


def peer_key_tiers(db: Database, peer: str, scope: Collection[int] | None = None) -> list[AlertTierKey]:
    """Every key of ``peer``'s alerts (of the cases in ``scope`` when given), with its alert's stored tier,
    in one query."""
    where, params = _scoped(scope)
    return [
        AlertTierKey(int(alert_id), alert_tier, key_type, tier, bool(current))
        for alert_id, alert_tier, key_type, tier, current in db.execute(
            "SELECT a.id, a.tier, k.key_type, k.tier, k.current FROM alerts a"  # noqa: S608  (a fixed condition)
            " JOIN alert_keys k ON k.alert_id = a.id WHERE a.peer = ?" + where,
            (peer, *params),
        )
    ]


def set_tiers(db: Database, changes: Iterable[TierChange]) -> None:
    db.conn.executemany("UPDATE alerts SET tier = ? WHERE id = ?", changes)


# --- reading and reviewing --------------------------------------------------------------------------


def _filter(status: str | None, peer: str | None, alert_id: int | None) -> tuple[str, list[object]]:
    where: list[str] = []
    params: list[object] = []
    for column, value in (("a.status", status), ("a.peer", peer), ("a.id", alert_id)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    return (" WHERE " + " AND ".join(where) if where else ""), params


def alerts(
    db: Database, *, status: str | None = None, peer: str | None = None, alert_id: int | None = None
) -> list[AlertRecord]:
    """The alerts that pass every given filter, by id, with their case ref."""
    where, params = _filter(status, peer, alert_id)
    sql = (
        "SELECT a.id, a.peer, c.case_ref, a.tier, a.status, a.match_state, a.created_at, a.updated_at,"  # noqa: S608
        " a.reason, a.safeguarding FROM alerts a JOIN cases c ON c.id = a.case_id" + where + " ORDER BY a.id"
    )
    return [AlertRecord(**{**r, "safeguarding": bool(r["safeguarding"])}) for r in db.query(sql, params)]


def alert_keys(
    db: Database, *, status: str | None = None, peer: str | None = None, alert_id: int | None = None
) -> dict[int, list[AlertKeyRecord]]:
    """The keys of every alert :func:`alerts` lists for the same filters, in one query: alert id -> keys."""
    where, params = _filter(status, peer, alert_id)
    sql = (
        "SELECT k.alert_id, k.key_type, k.tier, k.match_handle, k.current, k.first_seen, k.last_seen"  # noqa: S608
        " FROM alert_keys k WHERE k.alert_id IN (SELECT a.id FROM alerts a" + where + ") ORDER BY k.id"
    )
    out: dict[int, list[AlertKeyRecord]] = defaultdict(list)
    for r in db.query(sql, params):
        out[int(r["alert_id"])].append(
            AlertKeyRecord(
                int(r["alert_id"]), r["key_type"], r["tier"], bytes(r["match_handle"]), bool(r["current"]),
                r["first_seen"], r["last_seen"],
            )
        )  # fmt: skip
    return dict(out)


def alert_state(db: Database, alert_id: int) -> AlertState | None:
    for r in db.table("alerts").rows_where("id = ?", [alert_id], select="id, peer, status, match_state"):
        return AlertState(int(r["id"]), r["peer"], r["status"], r["match_state"])
    return None


def set_alert_status(db: Database, alert_id: int, status: str, reason: str | None, at: str) -> None:
    db.table("alerts").update(alert_id, {"status": status, "reason": reason, "updated_at": at})


def mark_safeguarding(db: Database, alert_id: int, at: str) -> None:
    """A release named a victim: the alert carries the safeguarding marker from now on."""
    db.table("alerts").update(alert_id, {"safeguarding": 1, "updated_at": at})


def best_handle(db: Database, alert_id: int) -> bytes | None:
    """The handle of the alert's key to refer to: current first, then strongest tier, then oldest."""
    for r in db.query(
        "SELECT match_handle FROM alert_keys WHERE alert_id = ?"
        " ORDER BY current DESC, CASE tier WHEN 'strong' THEN 0 WHEN 'medium' THEN 1 ELSE 2 END, id LIMIT 1",
        [alert_id],
    ):
        return bytes(r["match_handle"])
    return None


def first_alert_with_handle(db: Database, match_handle: bytes, peer: str) -> int | None:
    """The oldest of ``peer``'s alerts holding a key under ``match_handle``."""
    for r in db.query(
        "SELECT a.id FROM alert_keys k JOIN alerts a ON a.id = k.alert_id WHERE k.match_handle = ? AND a.peer = ?"
        " ORDER BY a.id LIMIT 1",
        [match_handle, peer],
    ):
        return int(r["id"])
    return None


def alert_case_id(db: Database, alert_id: int) -> int | None:
    for r in db.table("alerts").rows_where("id = ?", [alert_id], select="case_id"):
        return int(r["case_id"])
    return None


def alerted_case_refs(db: Database, peer: str) -> set[str]:
    rows = db.query("SELECT c.case_ref FROM alerts a JOIN cases c ON c.id = a.case_id WHERE a.peer = ?", [peer])
    return {str(r["case_ref"]) for r in rows}


def current_key_count(db: Database, peer: str) -> int:
    """Current matched keys behind ``peer``'s alerts."""
    row = db.execute(
        "SELECT COUNT(*) FROM alert_keys k JOIN alerts a ON a.id = k.alert_id WHERE a.peer = ? AND k.current = 1",
        (peer,),
    ).fetchone()
    return int(row[0])


def newest_alert_id(db: Database) -> int:
    """The largest alert id (0 when there is none): it moves exactly when a new alert is stored."""
    row = db.conn.execute("SELECT COALESCE(MAX(id), 0) FROM alerts").fetchone()
    return int(row[0])
