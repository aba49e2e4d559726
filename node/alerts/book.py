"""Match alerts: one per (peer, own case), built from PSI results, reviewed by analysts.

An alert lists the matched keys (key type, tier, match handle); its tier is the strongest of its current
keys. Re-running a session never duplicates an alert or a key: a key already known keeps the handle of the
session that first found it, so both agencies keep naming it the same way. A key the latest session with
that peer no longer matched (identifier removed, case closed) is marked not current, and an alert with no
current key is marked ``gone`` -- never silently deleted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlite_utils import Database

from node.core.errors import LocalError
from node.store import audit as audit

__all__ = [
    "ALERT_STATUSES",
    "Alert",
    "AlertKey",
    "MatchedKey",
    "RecordSummary",
    "confirm",
    "dismiss",
    "get_alert",
    "list_alerts",
    "record_matches",
]

ALERT_STATUSES = ("new", "confirmed", "dismissed")
_TIER_RANK = {"strong": 0, "medium": 1, "weak": 2}


@dataclass(frozen=True)
class MatchedKey:
    """One of our keys that a session matched."""

    case_id: int
    key_type: str
    tier: str
    element: bytes
    handle: bytes


@dataclass(frozen=True)
class RecordSummary:
    new_alerts: int
    updated_alerts: int
    gone_alerts: int


@dataclass(frozen=True)
class AlertKey:
    key_type: str
    tier: str
    match_handle: str
    current: bool
    first_seen: str
    last_seen: str


@dataclass(frozen=True)
class Alert:
    id: int
    peer: str
    case_ref: str
    tier: str
    key_type: str
    match_handle: str
    status: str
    match_state: str
    created_at: str
    updated_at: str
    reason: str | None
    keys: tuple[AlertKey, ...]
    safeguarding: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "peer": self.peer,
            "case_ref": self.case_ref,
            "key_type": self.key_type,
            "key_types": sorted({k.key_type for k in self.keys if k.current} or {k.key_type for k in self.keys}),
            "tier": self.tier,
            "status": self.status,
            "match_state": self.match_state,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "match_handle": self.match_handle,
            "reason": self.reason,
            "safeguarding": self.safeguarding,
            "keys": [
                {
                    "key_type": k.key_type,
                    "tier": k.tier,
                    "match_handle": k.match_handle,
                    "current": k.current,
                    "first_seen": k.first_seen,
                    "last_seen": k.last_seen,
                }
                for k in self.keys
            ],
        }


def _strongest(keys: Iterable[tuple[str, str]]) -> tuple[str, str]:
    """(tier, key_type) of the strongest key; ties broken by key type for a stable answer."""
    return min(((tier, kt) for kt, tier in keys), key=lambda p: (_TIER_RANK[p[0]], p[1]))


def record_matches(
    db: Database,
    *,
    peer: str,
    session_id: str,
    key_types: Sequence[str],
    matched: Sequence[MatchedKey],
    at: str,
) -> RecordSummary:
    """Fold one completed mutual-reveal session into the alerts. Call inside a transaction."""
    conn = db.conn
    by_case: dict[int, list[MatchedKey]] = defaultdict(list)
    for key in matched:
        by_case[key.case_id].append(key)
    new = updated = 0
    touched: set[int] = set()
    # One query for the peer's existing alerts and one executemany for the keys, instead of statements per
    # matched case: a large session matches tens of thousands of cases, and both nodes wait for this.
    existing: dict[int, tuple[int, str]] = {
        r[0]: (int(r[1]), r[2])
        for r in conn.execute("SELECT case_id, id, match_state FROM alerts WHERE peer = ?", (peer,))
    }
    # A key already matched with this peer keeps the handle it was first given, in whichever of our alerts
    # it now appears: the peer does the same, so a key both sides have seen before keeps one name on both
    # sides even when a newer case on either side joins the match.
    known_handles: dict[bytes, bytes] = {}
    for element, handle in conn.execute(
        "SELECT k.element, k.match_handle FROM alert_keys k JOIN alerts a ON a.id = k.alert_id"
        " WHERE a.peer = ? ORDER BY k.id",
        (peer,),
    ):
        known_handles.setdefault(bytes(element), bytes(handle))
    key_rows: list[tuple[object, ...]] = []
    new_rows: list[tuple[object, ...]] = []
    again_rows: list[tuple[str, int]] = []
    # Ids assigned here (as SQLite would: one past the largest) so new alerts go in with one executemany;
    # the caller's transaction holds the write lock, so no other writer can take them meanwhile.
    next_id = int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM alerts").fetchone()[0]) + 1
    for case_id, keys in sorted(by_case.items()):
        row = existing.get(case_id)
        tier, _ = _strongest((k.key_type, k.tier) for k in keys)
        if row is None:
            alert_id = next_id
            next_id += 1
            new_rows.append((alert_id, peer, case_id, tier, at, at, at))
            new += 1
            created = True
        else:
            alert_id, state = row
            created = False
        touched.add(alert_id)
        key_rows.extend(
            (
                alert_id, key.key_type, key.tier, key.element, known_handles.get(key.element, key.handle),
                session_id, session_id, at, at,
            )
            for key in keys
        )  # fmt: skip
        if created:
            audit.append(
                db,
                "alert.created",
                at=at,
                peer=peer,
                subject=f"alert:{alert_id}",
                session=session_id,
                tier=tier,
                key_types=sorted({k.key_type for k in keys}),
            )
        else:
            again_rows.append((at, alert_id))
            if state == "gone":
                updated += 1
                audit.append(
                    db,
                    "alert.matched-again",
                    at=at,
                    peer=peer,
                    subject=f"alert:{alert_id}",
                    session=session_id,
                )
    conn.executemany(
        "INSERT INTO alerts (id, peer, case_id, tier, status, match_state, created_at, updated_at,"
        " last_matched_at) VALUES (?, ?, ?, ?, 'new', 'current', ?, ?, ?)",
        new_rows,
    )
    conn.executemany(
        "UPDATE alerts SET match_state = 'current', gone_since = NULL, last_matched_at = ? WHERE id = ?",
        again_rows,
    )
    conn.executemany(
        "INSERT INTO alert_keys (alert_id, key_type, tier, element, match_handle, first_session,"
        " last_session, first_seen, last_seen, current) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1)"
        " ON CONFLICT(alert_id, element) DO UPDATE SET last_seen = excluded.last_seen,"
        " last_session = excluded.last_session, current = 1",
        key_rows,
    )
    gone = _mark_missing(db, peer=peer, session_id=session_id, key_types=key_types, touched=touched, at=at)
    _refresh_tiers(db, peer)
    return RecordSummary(new_alerts=new, updated_alerts=updated, gone_alerts=gone)


def _mark_missing(
    db: Database, *, peer: str, session_id: str, key_types: Sequence[str], touched: set[int], at: str
) -> int:
    """Keys of this peer's alerts, of the session's key types, that the session did not match again."""
    conn = db.conn
    marks = ", ".join("?" for _ in key_types)
    conn.execute(
        "UPDATE alert_keys SET current = 0 WHERE current = 1 AND key_type IN ("  # noqa: S608  (marks only)
        + marks
        + ") AND last_session != ? AND alert_id IN (SELECT id FROM alerts WHERE peer = ?)",
        (*key_types, session_id, peer),
    )
    rows = conn.execute(
        "SELECT a.id FROM alerts a WHERE a.peer = ? AND a.match_state = 'current'"
        " AND NOT EXISTS (SELECT 1 FROM alert_keys k WHERE k.alert_id = a.id AND k.current = 1)",
        (peer,),
    ).fetchall()
    for (alert_id,) in rows:
        conn.execute(
            "UPDATE alerts SET match_state = 'gone', gone_since = ?, updated_at = ? WHERE id = ?",
            (at, at, alert_id),
        )
        audit.append(db, "alert.match-gone", at=at, peer=peer, subject=f"alert:{alert_id}", session=session_id)
    return len(rows)


def _refresh_tiers(db: Database, peer: str) -> None:
    conn = db.conn
    # All of the peer's alert keys in one query; only the alerts whose tier changes are written.
    tiers: dict[int, str] = {}
    keys: dict[int, list[tuple[str, str, int]]] = defaultdict(list)
    for alert_id, alert_tier, key_type, tier, current in conn.execute(
        "SELECT a.id, a.tier, k.key_type, k.tier, k.current FROM alerts a"
        " JOIN alert_keys k ON k.alert_id = a.id WHERE a.peer = ?",
        (peer,),
    ):
        tiers[alert_id] = alert_tier
        keys[alert_id].append((key_type, tier, current))
    changes: list[tuple[str, int]] = []
    for alert_id, rows in keys.items():
        pool = [(k, t) for k, t, c in rows if c] or [(k, t) for k, t, _ in rows]
        tier, _ = _strongest(pool)
        if tier != tiers[alert_id]:
            changes.append((tier, alert_id))
    conn.executemany("UPDATE alerts SET tier = ? WHERE id = ?", changes)


_ALERT_SQL = (
    "SELECT a.id, a.peer, c.case_ref, a.tier, a.status, a.match_state, a.created_at, a.updated_at, a.reason,"
    " a.safeguarding"
    " FROM alerts a JOIN cases c ON c.id = a.case_id"
)


def _load(db: Database, rows: Iterable[Sequence[Any]]) -> list[Alert]:
    out: list[Alert] = []
    for r in rows:
        keys = tuple(
            AlertKey(k[0], k[1], bytes(k[2]).hex(), bool(k[3]), k[4], k[5])
            for k in db.conn.execute(
                "SELECT key_type, tier, match_handle, current, first_seen, last_seen FROM alert_keys"
                " WHERE alert_id = ? ORDER BY id",
                (r[0],),
            )
        )
        pool = [k for k in keys if k.current] or list(keys)
        best = min(pool, key=lambda k: (_TIER_RANK[k.tier], k.key_type))
        out.append(
            Alert(
                r[0],
                r[1],
                r[2],
                r[3],
                best.key_type,
                best.match_handle,
                r[4],
                r[5],
                r[6],
                r[7],
                r[8],
                keys,
                bool(r[9]),
            )
        )
    return out


def list_alerts(db: Database, status: str | None = None, peer: str | None = None) -> list[Alert]:
    where, params = [], []
    if status is not None:
        where.append("a.status = ?")
        params.append(status)
    if peer is not None:
        where.append("a.peer = ?")
        params.append(peer)
    sql = _ALERT_SQL + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY a.id"
    return _load(db, db.conn.execute(sql, params).fetchall())


def get_alert(db: Database, alert_id: int) -> Alert:
    rows = db.conn.execute(_ALERT_SQL + " WHERE a.id = ?", (alert_id,)).fetchall()
    if not rows:
        raise LocalError(f"no alert {alert_id}; see 'casebridge alerts list'")
    return _load(db, rows)[0]


def _set_status(
    db: Database, alert_id: int, status: Literal["confirmed", "dismissed"], at: str, reason: str | None
) -> Alert:
    alert = get_alert(db, alert_id)
    if alert.status == status:
        raise LocalError(f"alert {alert_id} is already {status}")
    db.conn.execute(
        "UPDATE alerts SET status = ?, reason = ?, updated_at = ? WHERE id = ?",
        (status, reason, at, alert_id),
    )
    # The reason is the analyst's free text and stays with the alert; the audit entry only records that
    # one was given.
    audit.append(
        db,
        f"alert.{status}",
        at=at,
        peer=alert.peer,
        subject=f"alert:{alert_id}",
        previous=alert.status,
        reason_given=reason is not None,
    )
    return get_alert(db, alert_id)


def confirm(db: Database, alert_id: int, at: str) -> Alert:
    return _set_status(db, alert_id, "confirmed", at, None)


def dismiss(db: Database, alert_id: int, reason: str, at: str) -> Alert:
    if not reason.strip():
        raise LocalError("a dismissal needs a reason (--reason)")
    return _set_status(db, alert_id, "dismissed", at, reason.strip())
