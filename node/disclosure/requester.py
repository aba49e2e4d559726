"""The requester's side: asking the owner of a matched case, and accepting its decision."""

from __future__ import annotations

import re
import uuid
from typing import cast

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
from node.store import alerts as alert_store
from node.store import audit as audit
from node.store import disclosures as store
from node.store.disclosures import NewDisclosure
from proto.casebridge.v1 import casebridge_pb2 as pb

__all__ = ["accept_denial", "accept_release", "prepare_request", "record_outgoing"]


def prepare_request(db: Database, alert_id: int, purpose: str, legal_basis: str, handling: str) -> OutgoingRequest:
    """Check our side of a request (the alert is ours and current) and name its match handle."""
    if handling not in HANDLING_CODES:
        raise LocalError(f"--handling: expected one of {', '.join(HANDLING_CODES)}")
    purpose = checked_text(purpose, "--purpose", LocalError)
    legal_basis = checked_text(legal_basis, "--legal-basis", LocalError)
    alert = alert_store.alert_state(db, alert_id)
    if alert is None:
        raise LocalError(f"no alert {alert_id}; see 'casebridge alerts list'")
    if alert.status == "dismissed":
        raise LocalError(f"alert {alert_id} was dismissed; confirm it before asking for details")
    handle = alert_store.best_handle(db, alert_id)
    if handle is None:
        raise LocalError(f"alert {alert_id} has no matched key to refer to")
    return OutgoingRequest(str(uuid.uuid4()), alert.peer, alert_id, handle, purpose, legal_basis, handling)


def record_outgoing(db: Database, request: OutgoingRequest, at: str, *, actor: str) -> int:
    """Store a request before it is sent (not yet delivered). Call inside a transaction."""
    disclosure_id = store.insert_disclosure(
        db,
        NewDisclosure(
            request.request_id, "outgoing", request.peer, request.alert_id, request.match_handle, request.purpose,
            request.legal_basis, request.handling, created_at=at, delivered=False,
        ),
    )  # fmt: skip
    audit.append(
        db,
        "disclosure.requested",
        at=at,
        peer=request.peer,
        subject=f"disclosure:{disclosure_id}",
        alert=request.alert_id,
        request=request.request_id,
        handling=request.handling,
        actor=actor,
    )
    return disclosure_id


_DOB = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MAX_PERSONS = 200
MAX_FIELD_TEXT = 20_000


def stored_request(db: Database, disclosure_id: int) -> OutgoingRequest:
    """Our pending request as recorded, to send it (again)."""
    row = store.disclosure(db, disclosure_id)
    if row is None or row.direction != "outgoing" or row.status != "pending":
        raise LocalError(f"disclosure {disclosure_id} is not a pending request of ours")
    # alert_id is None once retention purged the alert; the request is still sent (it does not carry the id).
    alert_id = cast(int, row.alert_id)
    return OutgoingRequest(
        row.request_id, row.peer, alert_id, row.match_handle, row.purpose, row.legal_basis, row.handling
    )


def record_owner_refusal(db: Database, disclosure_id: int, reason: str, at: str) -> None:
    """The owner's node refused our request outright (it is not retried). Call inside a transaction."""
    row = store.disclosure(db, disclosure_id)
    if row is None:
        raise LocalError(f"no disclosure {disclosure_id}; see 'casebridge disclose list'")
    store.set_owner_refusal(db, disclosure_id, reason, at)
    audit.append(db, "disclosure.refused-by-owner", at=at, peer=row.peer, subject=f"disclosure:{disclosure_id}")


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


def _check_release_addressing(release: pb.Release, peer: str, our_agency: str) -> None:
    """The release comes from ``peer``, is meant for us, and lists exactly the fields it carries."""
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
    _check_release_addressing(release, peer, our_agency)
    _check_release_content(release)
    row = store.by_request(db, release.request_id, "outgoing", peer)
    if row is None:
        raise UnknownMatch("no request of ours to that agency has this request id")
    disclosure_id, status, alert_id, handling = row.id, row.status, row.alert_id, row.handling
    if row.match_handle != release.match_handle:
        raise ReleaseRefused("the release refers to another match than our request")
    if HANDLING_FROM_WIRE.get(release.handling) != handling:
        raise ReleaseRefused("the release carries another handling code than our request")
    victim = any(p.role == "victim" for p in release.persons)
    if release.safeguarding != victim:
        raise ReleaseRefused("the release's safeguarding marker does not fit its persons")
    if status == "approved" and row.release == signed.release:
        return get_disclosure(db, disclosure_id)  # delivered again (the owner retried): nothing changes
    if status != "pending":
        raise ReleaseRefused(f"our request was already {status}")
    store_decision(db, disclosure_id, status="approved", at=at, release=release, signed=signed)
    if victim and alert_id is not None:
        alert_store.mark_safeguarding(db, alert_id, at)
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
    row = store.by_request(db, denial.request_id, "outgoing", peer)
    if row is None:
        raise UnknownMatch("no request of ours to that agency has this request id")
    disclosure_id, status = row.id, row.status
    if row.match_handle != denial.match_handle:
        raise ReleaseRefused("the denial refers to another match than our request")
    reason = checked_text(denial.reason, "reason", ReleaseRefused)
    if status == "denied" and row.reason == reason:
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
