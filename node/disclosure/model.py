"""Values, rules and reading of disclosures, shared by the requester's and the owner's side."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database

from node.core.errors import LocalError, RemoteError
from node.store import disclosures as store
from node.store.disclosures import DisclosureRecord
from proto.casebridge.v1 import casebridge_pb2 as pb

__all__ = [
    "HANDLING_CODES",
    "HANDLING_FROM_WIRE",
    "HANDLING_MEANING",
    "HANDLING_TO_WIRE",
    "MAX_TEXT",
    "RELEASABLE_FIELDS",
    "RELEASE_CONTEXT",
    "SAFEGUARDING_NOTE",
    "Disclosure",
    "OutgoingRequest",
    "ReleaseRefused",
    "checked_text",
    "get_disclosure",
    "list_disclosures",
    "mark_delivery",
    "store_decision",
]

HANDLING_CODES = ("H0", "H1", "H2", "H3")
# Modelled on the handling codes law-enforcement information exchange already uses (Europol's H0-H3).
HANDLING_MEANING = {
    "H0": "for preventing and combating crime; no further restriction",
    "H1": "not for use as evidence in judicial proceedings without the owner's permission",
    "H2": "not to be passed on to anyone without the owner's permission",
    "H3": "further restrictions apply, as stated with the request",
}
RELEASABLE_FIELDS = ("title", "summary", "contact", "persons")
RELEASE_CONTEXT = "casebridge.v1.Release"
MAX_TEXT = 2000
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
SAFEGUARDING_NOTE = "SAFEGUARDING: the released persons include a victim. Protect; never treat as an offender."

HANDLING_TO_WIRE = {"H0": pb.HANDLING_H0, "H1": pb.HANDLING_H1, "H2": pb.HANDLING_H2, "H3": pb.HANDLING_H3}
HANDLING_FROM_WIRE = {v: k for k, v in HANDLING_TO_WIRE.items()}


class ReleaseRefused(RemoteError):
    """A release or denial we cannot accept: forged, altered, misaddressed or unsolicited."""


@dataclass(frozen=True)
class Disclosure:
    id: int
    request_id: str
    direction: str
    peer: str
    alert_id: int | None
    match_handle: str
    purpose: str
    legal_basis: str
    handling: str
    status: str
    reason: str | None
    fields: tuple[str, ...]
    released: dict[str, Any] | None
    safeguarding: bool
    created_at: str
    updated_at: str
    case_ref: str | None  # incoming: our case the request is about; outgoing: the owner's, once released
    delivered: bool = True  # our last step (request, release, denial) reached the peer
    delivery_error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "request_id": self.request_id,
            "direction": self.direction,
            "peer": self.peer,
            "alert_id": self.alert_id if self.direction == "outgoing" else None,
            "match_handle": self.match_handle,
            "purpose": self.purpose,
            "legal_basis": self.legal_basis,
            "handling": self.handling,
            "handling_meaning": HANDLING_MEANING[self.handling],
            "status": self.status,
            "reason": self.reason,
            "fields": list(self.fields),
            "released": self.released,
            "safeguarding": self.safeguarding,
            "safeguarding_note": SAFEGUARDING_NOTE if self.safeguarding else None,
            "case_ref": self.case_ref,
            "delivered": self.delivered,
            "delivery_error": self.delivery_error,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


@dataclass(frozen=True)
class OutgoingRequest:
    request_id: str
    peer: str
    alert_id: int
    match_handle: bytes
    purpose: str
    legal_basis: str
    handling: str

    def to_wire(self) -> pb.DisclosureRequest:
        return pb.DisclosureRequest(
            request_id=self.request_id,
            match_handle=self.match_handle,
            purpose=self.purpose,
            legal_basis=self.legal_basis,
            handling=HANDLING_TO_WIRE[self.handling],
        )


def checked_text(value: str, field: str, error: type[LocalError] | type[RemoteError]) -> str:
    """A one-line free text (purpose, legal basis, reason): non-empty, bounded, no control characters.

    Line breaks and control characters are refused because another agency's analyst reads these lines
    next to our own output: they must not be able to fake a line (a handling code, a status) there.
    """
    value = value.strip()
    if not value:
        raise error(f"{field}: must not be empty")
    if len(value) > MAX_TEXT:
        raise error(f"{field}: at most {MAX_TEXT} characters")
    if _CONTROL.search(value):
        raise error(f"{field}: must be one line without control characters")
    return value


def store_decision(
    db: Database,
    disclosure_id: int,
    *,
    status: str,
    at: str,
    release: pb.Release | None = None,
    signed: pb.SignedRelease | None = None,
    reason: str | None = None,
    delivered: bool = True,
) -> None:
    """Record the owner's decision on one request, on either side: the signed release or the denial reason.

    The owner records its decision before sending it (``delivered`` False); the requester records what it
    received.
    """
    if release is not None and signed is not None:
        store.set_decision(
            db,
            disclosure_id,
            status=status,
            at=at,
            delivered=delivered,
            fields=list(release.fields),
            release=signed.release,
            signature=signed.signature,
            safeguarding=release.safeguarding,
        )
    else:
        store.set_decision(db, disclosure_id, status=status, at=at, delivered=delivered, reason=reason)


def mark_delivery(db: Database, disclosure_id: int, at: str, error: str | None = None) -> None:
    """Record whether our last step reached the peer (``error`` None) or why not. Call inside a transaction."""
    store.set_delivery(db, disclosure_id, at, error)


def _release_fields(release: pb.Release) -> dict[str, Any]:
    out: dict[str, Any] = {"case_ref": release.case_ref}
    for field in release.fields:
        if field == "persons":
            out["persons"] = [{"name": p.name, "dob": p.dob or None, "role": p.role} for p in release.persons]
        else:
            out[field] = getattr(release, field)
    return out


def _load(row: DisclosureRecord) -> Disclosure:
    released = None
    owner_case = None
    if row.release is not None:
        release = pb.Release()
        release.ParseFromString(row.release)
        released = _release_fields(release)
        owner_case = release.case_ref
    return Disclosure(
        id=row.id,
        request_id=row.request_id,
        direction=row.direction,
        peer=row.peer,
        alert_id=row.alert_id,
        match_handle=row.match_handle.hex(),
        purpose=row.purpose,
        legal_basis=row.legal_basis,
        handling=row.handling,
        status=row.status,
        reason=row.reason,
        fields=row.fields,
        released=released,
        safeguarding=row.safeguarding,
        created_at=row.created_at,
        updated_at=row.updated_at,
        case_ref=row.alert_case_ref if row.direction == "incoming" else owner_case,
        delivered=row.delivered,
        delivery_error=row.delivery_error,
    )


def get_disclosure(db: Database, disclosure_id: int) -> Disclosure:
    row = store.disclosure(db, disclosure_id)
    if row is None:
        raise LocalError(f"no disclosure {disclosure_id}; see 'casebridge disclose list'")
    return _load(row)


def list_disclosures(db: Database, direction: str | None = None, status: str | None = None) -> list[Disclosure]:
    return [_load(r) for r in store.disclosures(db, direction, status)]
