"""The requester's side: asking the owner of a matched case, and accepting its decision."""

from __future__ import annotations

import re
import uuid

from cryptography import x509
from sqlite_utils import Database

from crypto.certificates import AGENCY_CODE, verify
from crypto.errors import InvalidSignature
from matcher.identifiers import PERSON_ROLES
from node.core.errors import LocalError, UnknownMatch
from node.disclosure.model import (
    HANDLING_CODES,
    HANDLING_FROM_WIRE,
    MAX_TEXT,
    RELEASABLE_FIELDS,
    RELEASE_CONTEXT,
    Disclosure,
    OutgoingRequest,
    ReleaseRefused,
    checked_text,
    get_disclosure,
    store_decision,
)
from node.store import audit as audit
from proto.casebridge.v1 import casebridge_pb2 as pb

__all__ = ["accept_denial", "accept_release", "prepare_request", "record_outgoing"]


def prepare_request(db: Database, alert_id: int, purpose: str, legal_basis: str, handling: str) -> OutgoingRequest:
    """Check our side of a request (the alert is ours and current) and name its match handle."""
    if handling not in HANDLING_CODES:
        raise LocalError(f"--handling: expected one of {', '.join(HANDLING_CODES)}")
    purpose = checked_text(purpose, "--purpose", LocalError)
    legal_basis = checked_text(legal_basis, "--legal-basis", LocalError)
    row = db.conn.execute("SELECT peer, status FROM alerts WHERE id = ?", (alert_id,)).fetchone()
    if row is None:
        raise LocalError(f"no alert {alert_id}; see 'casebridge alerts list'")
    peer, status = row
    if status == "dismissed":
        raise LocalError(f"alert {alert_id} was dismissed; confirm it before asking for details")
    key = db.conn.execute(
        "SELECT match_handle FROM alert_keys WHERE alert_id = ?"
        " ORDER BY current DESC, CASE tier WHEN 'strong' THEN 0 WHEN 'medium' THEN 1 ELSE 2 END, id LIMIT 1",
        (alert_id,),
    ).fetchone()
    if key is None:
        raise LocalError(f"alert {alert_id} has no matched key to refer to")
    return OutgoingRequest(str(uuid.uuid4()), peer, alert_id, bytes(key[0]), purpose, legal_basis, handling)


def record_outgoing(db: Database, request: OutgoingRequest, at: str) -> int:
    """Store a request before it is sent (not yet delivered). Call inside a transaction."""
    cursor = db.conn.execute(
        "INSERT INTO disclosures (request_id, direction, peer, alert_id, match_handle, purpose, legal_basis,"
        " handling, status, created_at, updated_at, delivered)"
        " VALUES (?, 'outgoing', ?, ?, ?, ?, ?, ?, 'pending', ?, ?, 0)",
        (
            request.request_id,
            request.peer,
            request.alert_id,
            request.match_handle,
            request.purpose,
            request.legal_basis,
            request.handling,
            at,
            at,
        ),
    )
    disclosure_id = int(cursor.lastrowid or 0)
    audit.append(
        db,
        "disclosure.requested",
        at=at,
        peer=request.peer,
        subject=f"disclosure:{disclosure_id}",
        alert=request.alert_id,
        request=request.request_id,
        handling=request.handling,
    )
    return disclosure_id


_DOB = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MAX_PERSONS = 200
MAX_FIELD_TEXT = 20_000


def _stored(db: Database, disclosure_id: int, column: str) -> object:
    value = db.conn.execute(f"SELECT {column} FROM disclosures WHERE id = ?", (disclosure_id,)).fetchone()[0]  # noqa: S608
    return bytes(value) if isinstance(value, bytes | memoryview) else value


def stored_request(db: Database, disclosure_id: int) -> OutgoingRequest:
    """Our pending request as recorded, to send it (again)."""
    row = db.conn.execute(
        "SELECT request_id, peer, alert_id, match_handle, purpose, legal_basis, handling FROM disclosures"
        " WHERE id = ? AND direction = 'outgoing' AND status = 'pending'",
        (disclosure_id,),
    ).fetchone()
    if row is None:
        raise LocalError(f"disclosure {disclosure_id} is not a pending request of ours")
    return OutgoingRequest(row[0], row[1], row[2], bytes(row[3]), row[4], row[5], row[6])


def record_owner_refusal(db: Database, disclosure_id: int, reason: str, at: str) -> None:
    """The owner's node refused our request outright (it is not retried). Call inside a transaction."""
    peer = db.conn.execute("SELECT peer FROM disclosures WHERE id = ?", (disclosure_id,)).fetchone()[0]
    db.conn.execute(
        "UPDATE disclosures SET status = 'refused', reason = ?, delivered = 1, delivery_error = NULL,"
        " decided_at = ?, updated_at = ? WHERE id = ?",
        (reason, at, at, disclosure_id),
    )
    audit.append(db, "disclosure.refused-by-owner", at=at, peer=peer, subject=f"disclosure:{disclosure_id}")


def _check_release_content(release: pb.Release) -> None:
    """Bounds on what a release may hold, so a peer cannot store arbitrary data with us under its signature."""
    for field in ("case_ref", "title", "summary", "contact"):
        if len(getattr(release, field)) > MAX_FIELD_TEXT:
            raise ReleaseRefused(f"the release's {field} is longer than {MAX_FIELD_TEXT} characters")
    if len(release.persons) > MAX_PERSONS:
        raise ReleaseRefused(f"the release names more than {MAX_PERSONS} persons")
    for person in release.persons:
        if person.role not in PERSON_ROLES or (person.dob and not _DOB.fullmatch(person.dob)):
            raise ReleaseRefused("the release names a person with an unknown role or a malformed date of birth")
        if not person.name or len(person.name) > MAX_TEXT:
            raise ReleaseRefused("the release names a person without a name or with an overlong one")


def accept_release(
    db: Database,
    *,
    peer: str,
    peer_certificate: x509.Certificate,
    our_agency: str,
    signed: pb.SignedRelease,
    at: str,
) -> Disclosure:
    """Verify and store a release from ``peer``. Call inside a transaction; refusals are audited by the caller."""
    try:
        verify(peer_certificate, RELEASE_CONTEXT, signed.release, signed.signature)
    except InvalidSignature:
        raise ReleaseRefused("the release's signature does not verify against the pinned certificate") from None
    release = pb.Release()
    try:
        release.ParseFromString(signed.release)
    except Exception:
        raise ReleaseRefused("the signed release is not a valid Release message") from None
    if release.owner_agency != peer:
        # The claimed owner is the sender's text: echo it into errors and the audit log only if it is a code.
        claimed = release.owner_agency if AGENCY_CODE.fullmatch(release.owner_agency) else "another agency"
        raise ReleaseRefused(f"the release names {claimed} as owner, but {peer} sent it")
    if release.requester_agency != our_agency:
        raise ReleaseRefused("the release is addressed to another agency")
    unknown = [f for f in release.fields if f not in RELEASABLE_FIELDS]
    if unknown or len(set(release.fields)) != len(release.fields):
        raise ReleaseRefused("the release lists unknown or repeated fields")
    # Only listed fields are shown, so unlisted content would be stored unseen (and unlisted persons would
    # still decide the safeguarding marker).
    unlisted = [
        f
        for f in RELEASABLE_FIELDS
        if f not in release.fields and (release.persons if f == "persons" else getattr(release, f))
    ]
    if unlisted:
        raise ReleaseRefused(f"the release carries fields it does not list: {','.join(unlisted)}")
    _check_release_content(release)
    row = db.conn.execute(
        "SELECT id, match_handle, status, alert_id, handling FROM disclosures"
        " WHERE request_id = ? AND direction = 'outgoing' AND peer = ?",
        (release.request_id, peer),
    ).fetchone()
    if row is None:
        raise UnknownMatch("no request of ours to that agency has this request id")
    disclosure_id, handle, status, alert_id, handling = row
    if bytes(handle) != release.match_handle:
        raise ReleaseRefused("the release refers to another match than our request")
    if HANDLING_FROM_WIRE.get(release.handling) != handling:
        raise ReleaseRefused("the release carries another handling code than our request")
    victim = any(p.role == "victim" for p in release.persons)
    if release.safeguarding != victim:
        raise ReleaseRefused("the release's safeguarding marker does not fit its persons")
    if status == "approved" and _stored(db, disclosure_id, "release") == signed.release:
        return get_disclosure(db, disclosure_id)  # delivered again (the owner retried): nothing changes
    if status != "pending":
        raise ReleaseRefused(f"our request was already {status}")
    store_decision(db, disclosure_id, status="approved", at=at, release=release, signed=signed)
    if victim and alert_id is not None:
        db.conn.execute("UPDATE alerts SET safeguarding = 1, updated_at = ? WHERE id = ?", (at, alert_id))
    audit.append(
        db,
        "disclosure.released",
        at=at,
        peer=peer,
        subject=f"disclosure:{disclosure_id}",
        request=release.request_id,
        fields=list(release.fields),
        handling=handling,
        safeguarding=victim,
    )
    return get_disclosure(db, disclosure_id)


def accept_denial(db: Database, *, peer: str, denial: pb.Denial, at: str) -> Disclosure:
    row = db.conn.execute(
        "SELECT id, match_handle, status FROM disclosures WHERE request_id = ? AND direction = 'outgoing' AND peer = ?",
        (denial.request_id, peer),
    ).fetchone()
    if row is None:
        raise UnknownMatch("no request of ours to that agency has this request id")
    disclosure_id, handle, status = row
    if bytes(handle) != denial.match_handle:
        raise ReleaseRefused("the denial refers to another match than our request")
    reason = checked_text(denial.reason, "reason", ReleaseRefused)
    if status == "denied" and _stored(db, disclosure_id, "reason") == reason:
        return get_disclosure(db, disclosure_id)  # delivered again (the owner retried): nothing changes
    if status != "pending":
        raise ReleaseRefused(f"our request was already {status}")
    store_decision(db, disclosure_id, status="denied", at=at, reason=reason)
    audit.append(
        db,
        "disclosure.denied",
        at=at,
        peer=peer,
        subject=f"disclosure:{disclosure_id}",
        request=denial.request_id,
    )
    return get_disclosure(db, disclosure_id)
