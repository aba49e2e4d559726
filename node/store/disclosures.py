"""The disclosures table: both directions of the two-step, owner-approved follow-up on a match."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database

__all__ = [
    "DisclosureRecord",
    "NewDisclosure",
    "by_request",
    "disclosure",
    "disclosures",
    "insert_disclosure",
    "pending_incoming_count",
    "set_decision",
    "set_delivery",
    "set_owner_refusal",
]


@dataclass(frozen=True)
class DisclosureRecord:
    """One row, with the case ref of the alert it hangs on (ours; None once the alert is gone)."""

    id: int
    request_id: str
    direction: str
    peer: str
    alert_id: int | None
    match_handle: bytes
    purpose: str
    legal_basis: str
    handling: str
    status: str
    reason: str | None
    fields: tuple[str, ...]
    release: bytes | None
    signature: bytes | None
    safeguarding: bool
    created_at: str
    updated_at: str
    delivered: bool
    delivery_error: str | None
    alert_case_ref: str | None


@dataclass(frozen=True)
class NewDisclosure:
    request_id: str
    direction: str
    peer: str
    alert_id: int
    match_handle: bytes
    purpose: str
    legal_basis: str
    handling: str
    created_at: str
    delivered: bool


_SELECT = (
    "SELECT d.id, d.request_id, d.direction, d.peer, d.alert_id, d.match_handle, d.purpose, d.legal_basis,"
    " d.handling, d.status, d.reason, d.fields, d.release, d.signature, d.safeguarding, d.created_at,"
    " d.updated_at, d.delivered, d.delivery_error, c.case_ref AS alert_case_ref FROM disclosures d"
    " LEFT JOIN alerts a ON a.id = d.alert_id LEFT JOIN cases c ON c.id = a.case_id"
)


def _blob(value: Any) -> bytes | None:
    return None if value is None else bytes(value)


def _record(row: dict[str, Any]) -> DisclosureRecord:
    return DisclosureRecord(
        **{
            **row,
            "match_handle": bytes(row["match_handle"]),
            "fields": tuple(json.loads(row["fields"])) if row["fields"] else (),
            "release": _blob(row["release"]),
            "signature": _blob(row["signature"]),
            "safeguarding": bool(row["safeguarding"]),
            "delivered": bool(row["delivered"]),
        }
    )


def _select(db: Database, where: Sequence[str], params: Sequence[object]) -> list[DisclosureRecord]:
    sql = _SELECT + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY d.id"
    return [_record(row) for row in db.query(sql, list(params))]


def disclosure(db: Database, disclosure_id: int) -> DisclosureRecord | None:
    found = _select(db, ["d.id = ?"], [disclosure_id])
    return found[0] if found else None


def disclosures(db: Database, direction: str | None = None, status: str | None = None) -> list[DisclosureRecord]:
    where: list[str] = []
    params: list[object] = []
    for column, value in (("d.direction", direction), ("d.status", status)):
        if value:
            where.append(f"{column} = ?")
            params.append(value)
    return _select(db, where, params)


def by_request(db: Database, request_id: str, direction: str, peer: str | None = None) -> DisclosureRecord | None:
    """The row of one request id in one direction (and with one peer, when given)."""
    where, params = ["d.request_id = ?", "d.direction = ?"], [request_id, direction]
    if peer is not None:
        where.append("d.peer = ?")
        params.append(peer)
    found = _select(db, where, params)
    return found[0] if found else None


def pending_incoming_count(db: Database, peer: str) -> int:
    return db.table("disclosures").count_where("peer = ? AND direction = 'incoming' AND status = 'pending'", [peer])


def insert_disclosure(db: Database, new: NewDisclosure) -> int:
    """A new pending request; returns its id."""
    table = db.table("disclosures")
    table.insert(
        {
            "request_id": new.request_id,
            "direction": new.direction,
            "peer": new.peer,
            "alert_id": new.alert_id,
            "match_handle": new.match_handle,
            "purpose": new.purpose,
            "legal_basis": new.legal_basis,
            "handling": new.handling,
            "status": "pending",
            "created_at": new.created_at,
            "updated_at": new.created_at,
            "delivered": int(new.delivered),
        }
    )
    return int(table.last_rowid or 0)


def set_decision(
    db: Database,
    disclosure_id: int,
    *,
    status: str,
    at: str,
    delivered: bool,
    fields: Sequence[str] | None = None,
    release: bytes | None = None,
    signature: bytes | None = None,
    safeguarding: bool = False,
    reason: str | None = None,
) -> None:
    """The owner's decision: a signed release (``release`` given) or a denial with its reason."""
    changes: dict[str, Any] = {"status": status, "decided_at": at, "updated_at": at, "delivered": int(delivered)}
    if release is not None:
        changes |= {
            "fields": json.dumps(list(fields or ())),
            "release": release,
            "signature": signature,
            "safeguarding": int(safeguarding),
        }
    else:
        changes["reason"] = reason
    db.table("disclosures").update(disclosure_id, changes)


def set_delivery(db: Database, disclosure_id: int, at: str, error: str | None) -> None:
    db.table("disclosures").update(
        disclosure_id, {"delivered": int(error is None), "delivery_error": error, "updated_at": at}
    )


def set_owner_refusal(db: Database, disclosure_id: int, reason: str, at: str) -> None:
    db.table("disclosures").update(
        disclosure_id,
        {
            "status": "refused",
            "reason": reason,
            "delivered": 1,
            "delivery_error": None,
            "decided_at": at,
            "updated_at": at,
        },
    )
