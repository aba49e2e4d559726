"""Match alerts: one per (peer, own case), built from PSI results, reviewed by analysts.

An alert lists the matched keys (key type, tier, match handle); its tier is the strongest of its current
keys. Re-running a session never duplicates an alert or a key. A key's handle is derived from the key itself
and the two agencies (:func:`crypto.pair_handle`), so both agencies name it the same way whatever either
side's history. A key the latest session with
that peer no longer matched (identifier removed, case closed) is marked not current, and an alert with no
current key is marked ``gone`` -- never silently deleted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlite_utils import Database

from node.core.errors import LocalError
from node.store import alerts as store
from node.store import audit as audit
from node.store.alerts import AlertKeyRecord, AlertRecord, KeyUpsert, MatchedAgain, NewAlert, TierChange

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
    scope: Collection[int] | None = None,
) -> RecordSummary:
    """Fold one completed mutual-reveal session into the alerts. Call inside a transaction.

    ``matched`` is every key of ours that matches now; with ``scope`` (our case ids), only the alerts of
    those cases are brought in line and ``matched`` holds the keys of those cases: a delta session records
    only the cases it changed, every other alert already says what matches."""
    by_case = _by_case(matched)
    if scope is not None and not set(by_case) <= set(scope):
        raise LocalError("keys of a case outside the scope were given to record")
    new = updated = 0
    # One query for the peer's existing alerts and one executemany for the keys, instead of statements per
    # matched case: a large session matches tens of thousands of cases, and both nodes wait for this.
    existing = store.peer_alerts_by_case(db, peer, scope)
    key_rows: list[KeyUpsert] = []
    new_rows: list[NewAlert] = []
    again_rows: list[MatchedAgain] = []
    entries: list[audit.Pending] = []  # the audit entries, in case order
    # Ids assigned here (as SQLite would: one past the largest) so new alerts go in with one executemany;
    # the caller's transaction holds the write lock, so no other writer can take them meanwhile.
    next_id = store.next_alert_id(db)
    for case_id, keys in sorted(by_case.items()):
        row = existing.get(case_id)
        tier, _ = _strongest((k.key_type, k.tier) for k in keys)
        if row is None:
            alert_id = next_id
            next_id += 1
            new_rows.append(NewAlert(alert_id, peer, case_id, tier, at, at, at))
            new += 1
        else:
            alert_id = row.id
        key_rows.extend(
            KeyUpsert(
                alert_id, key.key_type, key.tier, key.element, key.handle,
                session_id, session_id, at, at,
            )
            for key in keys
        )  # fmt: skip
        if row is None:
            entries.append(_created(alert_id, peer=peer, session_id=session_id, tier=tier, keys=keys))
        else:
            again_rows.append(MatchedAgain(at, alert_id))
            if row.match_state == "gone":
                updated += 1
                entries.append(audit.Pending("alert.matched-again", peer, f"alert:{alert_id}", {"session": session_id}))
    audit.append_many(db, entries, at=at)
    store.insert_alerts(db, new_rows)
    store.mark_matched_again(db, again_rows)
    store.upsert_keys(db, key_rows)
    gone = _mark_missing(db, peer=peer, session_id=session_id, key_types=key_types, scope=scope, at=at)
    _refresh_tiers(db, peer, scope)
    return RecordSummary(new_alerts=new, updated_alerts=updated, gone_alerts=gone)


def _by_case(matched: Sequence[MatchedKey]) -> dict[int, list[MatchedKey]]:
    by_case: dict[int, list[MatchedKey]] = defaultdict(list)
    for key in matched:
        by_case[key.case_id].append(key)
    return by_case


def _created(alert_id: int, *, peer: str, session_id: str, tier: str, keys: Sequence[MatchedKey]) -> audit.Pending:
    key_types: list[str] = sorted({k.key_type for k in keys})
    return audit.Pending("alert.created", peer, f"alert:{alert_id}", {"session": session_id, "tier": tier,
                                                                      "key_types": key_types})  # fmt: skip


def _mark_missing(
    db: Database, *, peer: str, session_id: str, key_types: Sequence[str], scope: Collection[int] | None, at: str
) -> int:
    """Keys of this peer's alerts (in ``scope``), of the session's key types, the session did not match again."""
    store.mark_keys_not_current(db, peer, session_id, key_types, scope)
    gone = store.alerts_left_without_keys(db, peer, scope)
    for alert_id in gone:
        store.mark_gone(db, alert_id, at)
        audit.append(db, "alert.match-gone", at=at, peer=peer, subject=f"alert:{alert_id}", session=session_id)
    return len(gone)


def _refresh_tiers(db: Database, peer: str, scope: Collection[int] | None) -> None:
    # All of the peer's alert keys (in scope) in one query; only the alerts whose tier changes are written.
    tiers: dict[int, str] = {}
    keys: dict[int, list[tuple[str, str, bool]]] = defaultdict(list)
    for row in store.peer_key_tiers(db, peer, scope):
        tiers[row.alert_id] = row.alert_tier
        keys[row.alert_id].append((row.key_type, row.tier, row.current))
    changes: list[TierChange] = []
    for alert_id, rows in keys.items():
        pool = [(k, t) for k, t, c in rows if c] or [(k, t) for k, t, _ in rows]
        tier, _ = _strongest(pool)
        if tier != tiers[alert_id]:
            changes.append(TierChange(tier, alert_id))
    store.set_tiers(db, changes)


def _alert(record: AlertRecord, stored: Sequence[AlertKeyRecord]) -> Alert:
    keys = tuple(
        AlertKey(k.key_type, k.tier, k.match_handle.hex(), k.current, k.first_seen, k.last_seen) for k in stored
    )
    pool = [k for k in keys if k.current] or list(keys)
    best = min(pool, key=lambda k: (_TIER_RANK[k.tier], k.key_type))
    return Alert(
        id=record.id,
        peer=record.peer,
        case_ref=record.case_ref,
        tier=record.tier,
        key_type=best.key_type,
        match_handle=best.match_handle,
        status=record.status,
        match_state=record.match_state,
        created_at=record.created_at,
        updated_at=record.updated_at,
        reason=record.reason,
        keys=keys,
        safeguarding=record.safeguarding,
    )


def _load(
    db: Database, *, status: str | None = None, peer: str | None = None, alert_id: int | None = None
) -> list[Alert]:
    """The alerts that pass the filters, with their keys: two queries however many alerts are listed."""
    records = store.alerts(db, status=status, peer=peer, alert_id=alert_id)
    keys = store.alert_keys(db, status=status, peer=peer, alert_id=alert_id) if records else {}
    return [_alert(record, keys.get(record.id, ())) for record in records]


def list_alerts(db: Database, status: str | None = None, peer: str | None = None) -> list[Alert]:
    return _load(db, status=status, peer=peer)


def get_alert(db: Database, alert_id: int) -> Alert:
    found = _load(db, alert_id=alert_id)
    if not found:
        raise LocalError(f"no alert {alert_id}; see 'casebridge alerts list'")
    return found[0]


def _set_status(
    db: Database, alert_id: int, status: Literal["confirmed", "dismissed"], at: str, reason: str | None, actor: str
) -> Alert:
    alert = get_alert(db, alert_id)
    if alert.status == status:
        raise LocalError(f"alert {alert_id} is already {status}")
    store.set_alert_status(db, alert_id, status, reason, at)
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
        actor=actor,
    )
    return get_alert(db, alert_id)


def confirm(db: Database, alert_id: int, at: str, *, actor: str) -> Alert:
    return _set_status(db, alert_id, "confirmed", at, None, actor)


def dismiss(db: Database, alert_id: int, reason: str, at: str, *, actor: str) -> Alert:
    if not reason.strip():
        raise LocalError("a dismissal needs a reason (--reason)")
    return _set_status(db, alert_id, "dismissed", at, reason.strip(), actor)
