"""The two-step follow-up after a hit: request, owner's decision, signed release -- storage and rules.

No network here (``node/net/disclosure_*`` carries the calls) and no clock (callers pass ``at``).

Rules this module enforces:
* a request names only the shared match handle, never a case reference; the owner looks the handle up among
  its own alerts *with the requesting agency*, so an agency that is not the match partner learns nothing;
* the owner releases exactly the fields it approves, in a ``Release`` signed by its node key; the requester
  stores it only after checking the signature against the certificate it pinned for that owner, that the
  release answers a request it made to that owner, and that it is addressed to us;
* a release whose persons include a victim carries the safeguarding marker, and the requester's alert gets it;
* every step appends an audit entry in the same transaction.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509
from sqlite_utils import Database

from crypto.certificates import AGENCY_CODE, verify
from crypto.errors import InvalidSignature, LocalError, RemoteError
from node import audit
from node.errors import UnknownMatch
from proto.casebridge.v1 import casebridge_pb2 as pb

__all__ = [
    "HANDLING_CODES",
    "RELEASABLE_FIELDS",
    "RELEASE_CONTEXT",
    "Disclosure",
    "OutgoingRequest",
    "ReleaseRefused",
    "accept_denial",
    "accept_release",
    "accept_request",
    "build_release",
    "get_disclosure",
    "list_disclosures",
    "prepare_request",
    "record_approval",
    "record_denial",
    "record_outgoing",
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
SAFEGUARDING_NOTE = "SAFEGUARDING: the released persons include a victim. Protect; never treat as an offender."

_HANDLING_TO_WIRE = {"H0": pb.HANDLING_H0, "H1": pb.HANDLING_H1, "H2": pb.HANDLING_H2, "H3": pb.HANDLING_H3}
_HANDLING_FROM_WIRE = {v: k for k, v in _HANDLING_TO_WIRE.items()}


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
            handling=_HANDLING_TO_WIRE[self.handling],
        )


def _text(value: str, field: str, error: type[LocalError] | type[RemoteError]) -> str:
    value = value.strip()
    if not value:
        raise error(f"{field}: must not be empty")
    if len(value) > MAX_TEXT:
        raise error(f"{field}: at most {MAX_TEXT} characters")
    return value


# ------------------------------------------------------------------------------------------- requester


def prepare_request(db: Database, alert_id: int, purpose: str, legal_basis: str, handling: str) -> OutgoingRequest:
    """Check our side of a request (the alert is ours and current) and name its match handle."""
    if handling not in HANDLING_CODES:
        raise LocalError(f"--handling: expected one of {', '.join(HANDLING_CODES)}")
    purpose = _text(purpose, "--purpose", LocalError)
    legal_basis = _text(legal_basis, "--legal-basis", LocalError)
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
    """Store a request the owner acknowledged. Call inside a transaction."""
    cursor = db.conn.execute(
        "INSERT INTO disclosures (request_id, direction, peer, alert_id, match_handle, purpose, legal_basis,"
        " handling, status, created_at, updated_at) VALUES (?, 'outgoing', ?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
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


def _release_fields(release: pb.Release) -> dict[str, Any]:
    out: dict[str, Any] = {"case_ref": release.case_ref}
    for field in release.fields:
        if field == "persons":
            out["persons"] = [{"name": p.name, "dob": p.dob or None, "role": p.role} for p in release.persons]
        else:
            out[field] = getattr(release, field)
    return out


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
    if _HANDLING_FROM_WIRE.get(release.handling) != handling:
        raise ReleaseRefused("the release carries another handling code than our request")
    victim = any(p.role == "victim" for p in release.persons)
    if release.safeguarding != victim:
        raise ReleaseRefused("the release's safeguarding marker does not fit its persons")
    if status != "pending":
        raise ReleaseRefused(f"our request was already {status}")
    db.conn.execute(
        "UPDATE disclosures SET status = 'approved', fields = ?, release = ?, signature = ?, safeguarding = ?,"
        " decided_at = ?, updated_at = ? WHERE id = ?",
        (
            json.dumps(list(release.fields)),
            signed.release,
            signed.signature,
            int(victim),
            at,
            at,
            disclosure_id,
        ),
    )
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
    if status != "pending":
        raise ReleaseRefused(f"our request was already {status}")
    reason = _text(denial.reason, "reason", ReleaseRefused)
    db.conn.execute(
        "UPDATE disclosures SET status = 'denied', reason = ?, decided_at = ?, updated_at = ? WHERE id = ?",
        (reason, at, at, disclosure_id),
    )
    audit.append(
        db,
        "disclosure.denied",
        at=at,
        peer=peer,
        subject=f"disclosure:{disclosure_id}",
        request=denial.request_id,
    )
    return get_disclosure(db, disclosure_id)


# ------------------------------------------------------------------------------------------------ owner


def accept_request(db: Database, *, peer: str, request: pb.DisclosureRequest, at: str) -> tuple[Disclosure, bool]:
    """Store a peer's request as pending; (disclosure, duplicate). Call inside a transaction."""
    try:
        uuid.UUID(request.request_id)
    except ValueError:
        raise ReleaseRefused("request_id: expected a UUID") from None
    handling = _HANDLING_FROM_WIRE.get(request.handling)
    if handling is None:
        raise ReleaseRefused("handling: expected H0, H1, H2 or H3")
    purpose = _text(request.purpose, "purpose", ReleaseRefused)
    legal_basis = _text(request.legal_basis, "legal_basis", ReleaseRefused)
    existing = db.conn.execute(
        "SELECT id, peer, match_handle FROM disclosures WHERE request_id = ? AND direction = 'incoming'",
        (request.request_id,),
    ).fetchone()
    if existing is not None:
        if existing[1] != peer or bytes(existing[2]) != request.match_handle:
            raise ReleaseRefused("request_id: already used for another request")
        return get_disclosure(db, int(existing[0])), True
    # Only alerts with the requesting agency are searched: an agency that is not the match partner gets the
    # same answer as for a handle that does not exist.
    row = db.conn.execute(
        "SELECT a.id FROM alert_keys k JOIN alerts a ON a.id = k.alert_id WHERE k.match_handle = ? AND a.peer = ?",
        (request.match_handle, peer),
    ).fetchone()
    if row is None:
        raise UnknownMatch("no match with your agency under that handle")
    cursor = db.conn.execute(
        "INSERT INTO disclosures (request_id, direction, peer, alert_id, match_handle, purpose, legal_basis,"
        " handling, status, created_at, updated_at) VALUES (?, 'incoming', ?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
        (request.request_id, peer, int(row[0]), request.match_handle, purpose, legal_basis, handling, at, at),
    )
    disclosure_id = int(cursor.lastrowid or 0)
    audit.append(
        db,
        "disclosure.request-received",
        at=at,
        peer=peer,
        subject=f"disclosure:{disclosure_id}",
        alert=int(row[0]),
        request=request.request_id,
        handling=handling,
    )
    return get_disclosure(db, disclosure_id), False


def _pending_incoming(db: Database, disclosure_id: int) -> tuple[str, str, bytes, int, str]:
    row = db.conn.execute(
        "SELECT request_id, peer, match_handle, alert_id, handling, direction, status FROM disclosures WHERE id = ?",
        (disclosure_id,),
    ).fetchone()
    if row is None:
        raise LocalError(f"no disclosure {disclosure_id}; see 'casebridge disclose list'")
    if row[5] != "incoming":
        raise LocalError(f"disclosure {disclosure_id} is our own request; only the owner decides on it")
    if row[6] != "pending":
        raise LocalError(f"disclosure {disclosure_id} was already {row[6]}")
    if row[3] is None:
        raise LocalError(f"disclosure {disclosure_id}: its alert no longer exists")
    return row[0], row[1], bytes(row[2]), int(row[3]), row[4]


def build_release(
    db: Database, disclosure_id: int, fields: Sequence[str], *, our_agency: str, now: datetime
) -> pb.Release:
    """The Release for an approval of exactly ``fields`` (not yet signed, nothing stored)."""
    chosen = list(dict.fromkeys(fields))
    unknown = [f for f in chosen if f not in RELEASABLE_FIELDS]
    if unknown or not chosen:
        raise LocalError(f"--fields: choose from {','.join(RELEASABLE_FIELDS)} (got {','.join(fields) or 'none'})")
    request_id, peer, handle, alert_id, handling = _pending_incoming(db, disclosure_id)
    case = db.conn.execute(
        "SELECT c.id, c.case_ref, c.title, c.summary, c.contact FROM alerts a JOIN cases c ON c.id = a.case_id"
        " WHERE a.id = ?",
        (alert_id,),
    ).fetchone()
    release = pb.Release(
        request_id=request_id,
        match_handle=handle,
        owner_agency=our_agency,
        requester_agency=peer,
        handling=_HANDLING_TO_WIRE[handling],
        fields=chosen,
        case_ref=case[1],
    )
    release.released_at.FromDatetime(now)
    if "title" in chosen:
        release.title = case[2]
    if "summary" in chosen:
        release.summary = case[3]
    if "contact" in chosen:
        release.contact = case[4]
    if "persons" in chosen:
        for name, dob, role in db.conn.execute(
            "SELECT name, dob, role FROM persons WHERE case_id = ? ORDER BY position", (case[0],)
        ):
            release.persons.append(pb.Person(name=name, dob=dob or "", role=role))
        release.safeguarding = any(p.role == "victim" for p in release.persons)
    return release


def record_approval(
    db: Database, disclosure_id: int, release: pb.Release, release_bytes: bytes, signature: bytes, at: str
) -> Disclosure:
    """Store what we released, exactly as signed and delivered. Call inside a transaction."""
    _, peer, _, _, handling = _pending_incoming(db, disclosure_id)
    db.conn.execute(
        "UPDATE disclosures SET status = 'approved', fields = ?, release = ?, signature = ?, safeguarding = ?,"
        " decided_at = ?, updated_at = ? WHERE id = ?",
        (
            json.dumps(list(release.fields)),
            release_bytes,
            signature,
            int(release.safeguarding),
            at,
            at,
            disclosure_id,
        ),
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
    )
    return get_disclosure(db, disclosure_id)


def denial_for(db: Database, disclosure_id: int, reason: str) -> pb.Denial:
    request_id, _, handle, _, _ = _pending_incoming(db, disclosure_id)
    return pb.Denial(request_id=request_id, match_handle=handle, reason=_text(reason, "--reason", LocalError))


def record_denial(db: Database, disclosure_id: int, reason: str, at: str) -> Disclosure:
    _, peer, _, _, _ = _pending_incoming(db, disclosure_id)
    db.conn.execute(
        "UPDATE disclosures SET status = 'denied', reason = ?, decided_at = ?, updated_at = ? WHERE id = ?",
        (reason.strip(), at, at, disclosure_id),
    )
    audit.append(db, "disclosure.denied", at=at, peer=peer, subject=f"disclosure:{disclosure_id}", reason_given=True)
    return get_disclosure(db, disclosure_id)


# -------------------------------------------------------------------------------------------- reading

_SQL = (
    "SELECT d.id, d.request_id, d.direction, d.peer, d.alert_id, d.match_handle, d.purpose, d.legal_basis,"
    " d.handling, d.status, d.reason, d.fields, d.release, d.safeguarding, d.created_at, d.updated_at,"
    " c.case_ref FROM disclosures d LEFT JOIN alerts a ON a.id = d.alert_id LEFT JOIN cases c ON c.id = a.case_id"
)


def _load(row: Sequence[Any]) -> Disclosure:
    released = None
    owner_case = None
    if row[12] is not None:
        release = pb.Release()
        release.ParseFromString(bytes(row[12]))
        released = _release_fields(release)
        owner_case = release.case_ref
    direction = row[2]
    return Disclosure(
        id=row[0],
        request_id=row[1],
        direction=direction,
        peer=row[3],
        alert_id=row[4],
        match_handle=bytes(row[5]).hex(),
        purpose=row[6],
        legal_basis=row[7],
        handling=row[8],
        status=row[9],
        reason=row[10],
        fields=tuple(json.loads(row[11])) if row[11] else (),
        released=released,
        safeguarding=bool(row[13]),
        created_at=row[14],
        updated_at=row[15],
        case_ref=row[16] if direction == "incoming" else owner_case,
    )


def get_disclosure(db: Database, disclosure_id: int) -> Disclosure:
    row = db.conn.execute(_SQL + " WHERE d.id = ?", (disclosure_id,)).fetchone()
    if row is None:
        raise LocalError(f"no disclosure {disclosure_id}; see 'casebridge disclose list'")
    return _load(row)


def list_disclosures(db: Database, direction: str | None = None, status: str | None = None) -> list[Disclosure]:
    where, params = [], []
    if direction:
        where.append("d.direction = ?")
        params.append(direction)
    if status:
        where.append("d.status = ?")
        params.append(status)
    sql = _SQL + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY d.id"
    return [_load(r) for r in db.conn.execute(sql, params).fetchall()]
