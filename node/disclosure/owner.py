"""The owner's side: receiving a request about one of our alerts, and releasing or denying."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlite_utils import Database

from node.core.errors import LocalError, QuotaExceeded, UnknownMatch
from node.disclosure.model import (
    HANDLING_FROM_WIRE,
    HANDLING_TO_WIRE,
    RELEASABLE_FIELDS,
    Disclosure,
    ReleaseRefused,
    checked_text,
    get_disclosure,
    store_decision,
)
from node.store import alerts as alert_store
from node.store import audit as audit
from node.store import cases as case_store
from node.store import disclosures as store
from node.store.disclosures import NewDisclosure
from proto.casebridge.v1 import casebridge_pb2 as pb

__all__ = [
    "MAX_PENDING_PER_PEER",
    "accept_request",
    "build_release",
    "denial_for",
    "record_approval",
    "record_denial",
    "stored_decision",
]

# Requests cost the owner's analysts time; a peer cannot queue more than this many undecided ones.
MAX_PENDING_PER_PEER = 500


def accept_request(db: Database, *, peer: str, request: pb.DisclosureRequest, at: str) -> tuple[Disclosure, bool]:
    """Store a peer's request as pending; (disclosure, duplicate). Call inside a transaction."""
    try:
        canonical = str(uuid.UUID(request.request_id))
    except ValueError:
        canonical = ""
    if canonical != request.request_id:
        raise ReleaseRefused("request_id: expected a UUID in its canonical form")
    handling = HANDLING_FROM_WIRE.get(request.handling)
    if handling is None:
        raise ReleaseRefused("handling: expected H0, H1, H2 or H3")
    purpose = checked_text(request.purpose, "purpose", ReleaseRefused)
    legal_basis = checked_text(request.legal_basis, "legal_basis", ReleaseRefused)
    existing = store.by_request(db, request.request_id, "incoming")
    if existing is not None:
        if existing.peer != peer or existing.match_handle != request.match_handle:
            raise ReleaseRefused("request_id: already used for another request")
        return get_disclosure(db, existing.id), True
    # Only alerts with the requesting agency are searched: an agency that is not the match partner gets the
    # same answer as for a handle that does not exist.
    # When several of our cases hold the matched key, the request is about the first alert that names it.
    alert_id = alert_store.first_alert_with_handle(db, request.match_handle, peer)
    if alert_id is None:
        raise UnknownMatch("no match with your agency under that handle")
    pending = store.pending_incoming_count(db, peer)
    if pending >= MAX_PENDING_PER_PEER:
        raise QuotaExceeded(
            f"{peer} already has {pending} requests waiting for a decision here; ask again once some are decided"
        )
    disclosure_id = store.insert_disclosure(
        db,
        NewDisclosure(
            request.request_id, "incoming", peer, alert_id, request.match_handle, purpose, legal_basis, handling,
            created_at=at, delivered=True,
        ),
    )  # fmt: skip
    audit.append(
        db,
        "disclosure.request-received",
        at=at,
        peer=peer,
        subject=f"disclosure:{disclosure_id}",
        alert=alert_id,
        request=request.request_id,
        handling=handling,
    )
    return get_disclosure(db, disclosure_id), False


def _pending_incoming(db: Database, disclosure_id: int) -> tuple[str, str, bytes, int, str]:
    row = store.disclosure(db, disclosure_id)
    if row is None:
        raise LocalError(f"no disclosure {disclosure_id}; see 'casebridge disclose list'")
    if row.direction != "incoming":
        raise LocalError(f"disclosure {disclosure_id} is our own request; only the owner decides on it")
    if row.status != "pending":
        raise LocalError(f"disclosure {disclosure_id} was already {row.status}")
    if row.alert_id is None:
        raise LocalError(f"disclosure {disclosure_id}: its alert no longer exists")
    return row.request_id, row.peer, row.match_handle, row.alert_id, row.handling


def build_release(
    db: Database, disclosure_id: int, fields: Sequence[str], *, our_agency: str, now: datetime
) -> pb.Release:
    """The Release for an approval of exactly ``fields`` (not yet signed, nothing stored)."""
    chosen = list(dict.fromkeys(fields))
    unknown = [f for f in chosen if f not in RELEASABLE_FIELDS]
    if unknown or not chosen:
        raise LocalError(f"--fields: choose from {','.join(RELEASABLE_FIELDS)} (got {','.join(fields) or 'none'})")
    request_id, peer, handle, alert_id, handling = _pending_incoming(db, disclosure_id)
    case_id = alert_store.alert_case_id(db, alert_id)
    case = case_store.case_details(db, case_id) if case_id is not None else None
    if case is None:
        raise LocalError(f"disclosure {disclosure_id}: its alert no longer exists")
    release = pb.Release(
        request_id=request_id,
        match_handle=handle,
        owner_agency=our_agency,
        requester_agency=peer,
        handling=HANDLING_TO_WIRE[handling],
        fields=chosen,
        case_ref=case.case_ref,
    )
    release.released_at.FromDatetime(now)
    if "title" in chosen:
        release.title = case.title
    if "summary" in chosen:
        release.summary = case.summary
    if "contact" in chosen:
        release.contact = case.contact
    if "persons" in chosen:
        for person in case_store.persons_of(db, case.id):
            release.persons.append(pb.Person(name=person.name, dob=person.dob or "", role=person.role))
        release.safeguarding = any(p.role == "victim" for p in release.persons)
    return release


def record_approval(
    db: Database,
    disclosure_id: int,
    release: pb.Release,
    release_bytes: bytes,
    signature: bytes,
    at: str,
    *,
    actor: str,
) -> Disclosure:
    """Store what we release, exactly as signed, before it is sent (not yet delivered). Call inside a transaction."""
    _, peer, _, _, handling = _pending_incoming(db, disclosure_id)
    store_decision(
        db,
        disclosure_id,
        status="approved",
        at=at,
        release=release,
        signed=pb.SignedRelease(release=release_bytes, signature=signature),
        delivered=False,
    )
    audit.append(
        db,
        "disclosure.approved",
        at=at,
        peer=peer,
        subject=f"disclosure:{disclosure_id}",
        request=release.request_id,
        fields=list(release.fields),
        handling=handling,
        safeguarding=release.safeguarding,
        actor=actor,
    )
    return get_disclosure(db, disclosure_id)


def denial_for(db: Database, disclosure_id: int, reason: str) -> pb.Denial:
    request_id, _, handle, _, _ = _pending_incoming(db, disclosure_id)
    return pb.Denial(request_id=request_id, match_handle=handle, reason=checked_text(reason, "--reason", LocalError))


def record_denial(db: Database, disclosure_id: int, reason: str, at: str, *, actor: str) -> Disclosure:
    _, peer, _, _, _ = _pending_incoming(db, disclosure_id)
    store_decision(db, disclosure_id, status="denied", at=at, reason=reason.strip(), delivered=False)
    audit.append(
        db, "disclosure.denied", at=at, peer=peer, subject=f"disclosure:{disclosure_id}", reason_given=True, actor=actor
    )
    return get_disclosure(db, disclosure_id)


def stored_decision(db: Database, disclosure_id: int) -> pb.SignedRelease | pb.Denial:
    """Our recorded decision on an incoming request, to send it (again)."""
    row = store.disclosure(db, disclosure_id)
    if row is None or row.direction != "incoming" or row.status not in ("approved", "denied"):
        raise LocalError(f"disclosure {disclosure_id} is not a request we decided on")
    if row.status == "approved":
        return pb.SignedRelease(release=row.release or b"", signature=row.signature or b"")
    return pb.Denial(request_id=row.request_id, match_handle=row.match_handle, reason=row.reason or "")
