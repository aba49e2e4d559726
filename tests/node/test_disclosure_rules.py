"""The rules of node.disclosure on real SQLite files: two node databases, one requester and one owner.

No network: the wire messages are passed from one database's functions to the other's, as the RPC
handlers would.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlite_utils import Database

from crypto.certificates import create_identity, load_certificate, load_private_key, sign
from crypto.errors import LocalError
from node import audit
from node.disclosure import (
    RELEASE_CONTEXT,
    OutgoingRequest,
    ReleaseRefused,
    accept_denial,
    accept_release,
    accept_request,
    build_release,
    denial_for,
    get_disclosure,
    list_disclosures,
    prepare_request,
    record_approval,
    record_denial,
    record_outgoing,
)
from node.errors import UnknownMatch
from node.store import open_database, transaction
from proto.casebridge.v1 import casebridge_pb2 as pb

REQUESTER, OWNER, THIRD = "NL-NP", "DE-BKA", "RO-DIICOT"
AT = "2026-05-01T10:00:00+00:00"
LATER = "2026-05-02T10:00:00+00:00"
NOW = datetime(2026, 5, 2, 10, 0, tzinfo=UTC)
HANDLE = bytes(range(16))
OTHER_HANDLE = bytes(range(16, 32))
OWNER_CASE = {
    "case_ref": "DE-2026-0007",
    "title": "Anwerbung ueber Anzeigen",
    "summary": "Telefonnummer in Kleinanzeigen",
    "contact": "BKA SO 1, +49 611 55 0",
}


def _database(path: Path) -> Database:
    path.parent.mkdir(parents=True, exist_ok=True)
    return open_database(path)


def _add_case(db: Database, case_ref: str, persons: list[tuple[str, str, str]], **text: str) -> int:
    cursor = db.conn.execute(
        "INSERT INTO cases (case_ref, title, summary, contact, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
        (case_ref, text.get("title", "t"), text.get("summary", "s"), text.get("contact", "c"), AT, AT),
    )
    case_id = int(cursor.lastrowid or 0)
    for position, (name, dob, role) in enumerate(persons):
        db.conn.execute(
            "INSERT INTO persons (case_id, position, name, dob, role) VALUES (?, ?, ?, ?, ?)",
            (case_id, position, name, dob, role),
        )
    return case_id


def _add_alert(db: Database, peer: str, case_id: int, keys: list[tuple[str, str, bytes, int]]) -> int:
    """An alert with keys (key_type, tier, match handle, current)."""
    cursor = db.conn.execute(
        "INSERT INTO alerts (peer, case_id, tier, created_at, updated_at, last_matched_at) VALUES (?, ?, ?, ?, ?, ?)",
        (peer, case_id, keys[0][1], AT, AT, AT),
    )
    alert = int(cursor.lastrowid or 0)
    for index, (key_type, tier, handle, current) in enumerate(keys):
        db.conn.execute(
            "INSERT INTO alert_keys (alert_id, key_type, tier, element, match_handle, first_session, last_session,"
            " first_seen, last_seen, current) VALUES (?, ?, ?, ?, ?, 's', 's', ?, ?, ?)",
            (alert, key_type, tier, bytes([index]) * 32, handle, AT, AT, current),
        )
    return alert


@dataclass
class Pair:
    """A requester and an owner that share one match, and the owner's key."""

    requester: Database
    owner: Database
    requester_alert: int
    owner_alert: int
    owner_key: ec.EllipticCurvePrivateKey
    owner_cert: Any
    third_key: ec.EllipticCurvePrivateKey

    def request(self, handling: str = "H2") -> tuple[int, int, OutgoingRequest]:
        """A request sent and stored on both sides: (requester's id, owner's id, request)."""
        outgoing = prepare_request(self.requester, self.requester_alert, "locate victims", "CCP art. 126", handling)
        with transaction(self.owner):
            stored, duplicate = accept_request(self.owner, peer=REQUESTER, request=outgoing.to_wire(), at=AT)
        assert not duplicate
        with transaction(self.requester):
            ours = record_outgoing(self.requester, outgoing, AT)
        return ours, stored.id, outgoing

    def release(self, owner_id: int, fields: list[str]) -> tuple[pb.Release, pb.SignedRelease]:
        release = build_release(self.owner, owner_id, fields, our_agency=OWNER, now=NOW)
        payload = release.SerializeToString()
        return release, pb.SignedRelease(release=payload, signature=sign(self.owner_key, RELEASE_CONTEXT, payload))

    def deliver(self, signed: pb.SignedRelease, peer: str = OWNER) -> Any:
        with transaction(self.requester):
            return accept_release(
                self.requester,
                peer=peer,
                peer_certificate=self.owner_cert,
                our_agency=REQUESTER,
                signed=signed,
                at=LATER,
            )


def _identity(agency: str) -> tuple[ec.EllipticCurvePrivateKey, Any]:
    identity = create_identity(agency, ["localhost"], NOW)
    return load_private_key(identity.key_pem), load_certificate(identity.cert_pem)


@pytest.fixture
def pair(tmp_path: Path) -> Pair:
    requester = _database(tmp_path / "nl" / "casebridge.db")
    owner = _database(tmp_path / "de" / "casebridge.db")
    with transaction(requester):
        ours = _add_case(requester, "NL-2026-0042", [("Anna Jansen", "1990-01-01", "witness")])
        requester_alert = _add_alert(
            requester,
            OWNER,
            ours,
            [("person-phonetic-dob", "weak", OTHER_HANDLE, 1), ("phone", "strong", HANDLE, 1)],
        )
    with transaction(owner):
        theirs = _add_case(
            owner,
            OWNER_CASE["case_ref"],
            [("Maria Popescu", "1988-09-05", "victim"), ("John Smyth", "", "suspect")],
            title=OWNER_CASE["title"],
            summary=OWNER_CASE["summary"],
            contact=OWNER_CASE["contact"],
        )
        owner_alert = _add_alert(owner, REQUESTER, theirs, [("phone", "strong", HANDLE, 1)])
    owner_key, owner_cert = _identity(OWNER)
    third_key, _ = _identity(THIRD)
    return Pair(requester, owner, requester_alert, owner_alert, owner_key, owner_cert, third_key)


def _events(db: Database) -> list[str]:
    return [e.event for e in audit.entries(db)]


def _row(db: Database, disclosure_id: int) -> tuple[Any, ...]:
    return tuple(
        db.conn.execute(
            "SELECT status, reason, fields, release, signature, safeguarding FROM disclosures WHERE id = ?",
            (disclosure_id,),
        ).fetchone()
    )


# ------------------------------------------------------------------------------------------ the round trip


def test_a_release_carries_exactly_the_chosen_fields(pair: Pair) -> None:
    _, theirs, request = pair.request("H1")
    release, signed = pair.release(theirs, ["title", "persons"])

    assert list(release.fields) == ["title", "persons"]
    assert (release.summary, release.contact) == ("", "")
    assert release.handling == pb.HANDLING_H1 and release.safeguarding

    stored = pair.deliver(signed)
    assert stored.status == "approved" and stored.handling == "H1" and stored.safeguarding
    assert stored.released == {
        "case_ref": OWNER_CASE["case_ref"],
        "title": OWNER_CASE["title"],
        "persons": [
            {"name": "Maria Popescu", "dob": "1988-09-05", "role": "victim"},
            {"name": "John Smyth", "dob": None, "role": "suspect"},
        ],
    }
    assert stored.case_ref == OWNER_CASE["case_ref"]
    alert_marker = pair.requester.conn.execute(
        "SELECT safeguarding FROM alerts WHERE id = ?", (pair.requester_alert,)
    ).fetchone()
    assert alert_marker == (1,)

    with transaction(pair.owner):
        approved = record_approval(pair.owner, theirs, release, signed.release, signed.signature, LATER)
    assert approved.released == stored.released and approved.case_ref == OWNER_CASE["case_ref"]
    assert _events(pair.requester) == ["disclosure.requested", "disclosure.released"]
    assert _events(pair.owner) == ["disclosure.request-received", "disclosure.approved"]
    assert audit.verify(pair.requester) == [] and audit.verify(pair.owner) == []
    assert request.match_handle == HANDLE


def test_without_persons_or_without_a_victim_there_is_no_marker(pair: Pair) -> None:
    _, theirs, _ = pair.request()
    release, _ = pair.release(theirs, ["title", "summary", "contact"])
    assert not release.persons and not release.safeguarding

    with transaction(pair.owner):
        pair.owner.conn.execute("UPDATE persons SET role = 'witness' WHERE role = 'victim'")
    release, signed = pair.release(theirs, ["persons"])
    assert len(release.persons) == 2 and not release.safeguarding
    assert not pair.deliver(signed).safeguarding


def test_nothing_of_the_owner_reaches_the_requester_before_release(pair: Pair) -> None:
    ours, theirs, request = pair.request()
    wire = request.to_wire().SerializeToString()
    assert get_disclosure(pair.requester, ours).case_ref is None
    assert get_disclosure(pair.requester, ours).released is None
    text = "\n".join(
        str(value)
        for table in ("disclosures", "alerts", "alert_keys", "audit")
        for row in pair.requester.conn.execute(f"SELECT * FROM {table}")  # noqa: S608 (fixed names)
        for value in row
    )
    for secret in (*OWNER_CASE.values(), "Maria Popescu", "John Smyth"):
        assert secret not in text and secret.encode() not in wire
    # The owner's incoming row knows its own case; the requester's outgoing row does not.
    assert get_disclosure(pair.owner, theirs).case_ref == OWNER_CASE["case_ref"]


# ------------------------------------------------------------------------------------------ requester's checks


def test_prepare_request_refers_to_the_strongest_current_key(pair: Pair) -> None:
    request = prepare_request(pair.requester, pair.requester_alert, " why ", " basis ", "H0")
    assert (request.match_handle, request.peer, request.purpose, request.legal_basis) == (
        HANDLE,
        OWNER,
        "why",
        "basis",
    )


@pytest.mark.parametrize(
    ("alert", "purpose", "basis", "handling", "message"),
    [
        (999, "p", "b", "H2", "no alert 999"),
        (None, "p", "b", "H4", "--handling"),
        (None, "  ", "b", "H2", "--purpose"),
        (None, "p", "x" * 2001, "H2", "--legal-basis"),
    ],
)
def test_prepare_request_refuses_bad_input(
    pair: Pair, alert: int | None, purpose: str, basis: str, handling: str, message: str
) -> None:
    with pytest.raises(LocalError, match=message):
        prepare_request(pair.requester, alert or pair.requester_alert, purpose, basis, handling)


def test_prepare_request_refuses_a_dismissed_alert(pair: Pair) -> None:
    with transaction(pair.requester):
        pair.requester.conn.execute("UPDATE alerts SET status = 'dismissed'")
    with pytest.raises(LocalError, match="dismissed"):
        prepare_request(pair.requester, pair.requester_alert, "p", "b", "H2")


def _field(name: str, value: Any) -> Callable[[pb.Release], None]:
    def change(release: pb.Release) -> None:
        if name == "persons":
            del release.persons[:]
        elif name == "fields":
            del release.fields[:]
            release.fields.extend(value)
        else:
            setattr(release, name, value)

    return change


# (what, change to the owner's release before it is signed, error)
OWNER_SIGNED_REFUSALS: list[tuple[str, Callable[[pb.Release], None], type[Exception]]] = [
    ("names another owner", _field("owner_agency", THIRD), ReleaseRefused),
    ("addressed to another agency", _field("requester_agency", THIRD), ReleaseRefused),
    ("an unknown field", _field("fields", ["title", "passport"]), ReleaseRefused),
    ("a repeated field", _field("fields", ["title", "title"]), ReleaseRefused),
    ("another match handle", _field("match_handle", OTHER_HANDLE), ReleaseRefused),
    ("another handling code", _field("handling", pb.HANDLING_H0), ReleaseRefused),
    ("a victim without the marker", _field("safeguarding", False), ReleaseRefused),
    ("the marker without a victim", _field("persons", None), ReleaseRefused),
    ("a request we never made", _field("request_id", str(uuid.uuid4())), UnknownMatch),
    ("content of a field it does not list", _field("summary", "unlisted"), ReleaseRefused),
    ("persons it does not list", _field("fields", ["title"]), ReleaseRefused),
]


@pytest.mark.parametrize(("what", "change", "error"), OWNER_SIGNED_REFUSALS, ids=[c[0] for c in OWNER_SIGNED_REFUSALS])
def test_accept_release_refuses_a_release_that_does_not_answer_our_request(
    pair: Pair, what: str, change: Callable[[pb.Release], None], error: type[Exception]
) -> None:
    ours, theirs, _ = pair.request()
    release, _ = pair.release(theirs, ["title", "persons"])
    change(release)
    payload = release.SerializeToString()
    before = _row(pair.requester, ours), _events(pair.requester)
    with pytest.raises(error):
        pair.deliver(pb.SignedRelease(release=payload, signature=sign(pair.owner_key, RELEASE_CONTEXT, payload)))
    assert (_row(pair.requester, ours), _events(pair.requester)) == before


def test_accept_release_refuses_forged_and_altered_signatures(pair: Pair) -> None:
    ours, theirs, _ = pair.request()
    release, signed = pair.release(theirs, ["title"])
    altered = bytearray(signed.release)
    altered[altered.index(OWNER_CASE["title"].encode())] ^= 0x20
    tampered = pb.Release()
    tampered.CopyFrom(release)
    tampered.title = "something else"
    forged = [
        pb.SignedRelease(release=signed.release, signature=sign(pair.third_key, RELEASE_CONTEXT, signed.release)),
        pb.SignedRelease(release=signed.release, signature=sign(pair.owner_key, "casebridge.v1.Other", signed.release)),
        pb.SignedRelease(release=bytes(altered), signature=signed.signature),
        pb.SignedRelease(release=tampered.SerializeToString(), signature=signed.signature),
        pb.SignedRelease(release=signed.release, signature=b""),
        pb.SignedRelease(release=b"\xff\xff", signature=sign(pair.owner_key, RELEASE_CONTEXT, b"\xff\xff")),
    ]
    before = _row(pair.requester, ours)
    for message in forged:
        with pytest.raises(ReleaseRefused):
            pair.deliver(message)
        assert _row(pair.requester, ours) == before
    # Sent by a third agency, the owner's genuine release does not match its sender.
    with pytest.raises(ReleaseRefused, match="names DE-BKA as owner"):
        pair.deliver(signed, peer=THIRD)
    assert pair.deliver(signed).status == "approved"
    # Once decided, neither a replay nor a late denial changes it.
    with pytest.raises(ReleaseRefused, match="already approved"):
        pair.deliver(signed)
    with pytest.raises(ReleaseRefused, match="already approved"), transaction(pair.requester):
        accept_denial(
            pair.requester,
            peer=OWNER,
            denial=pb.Denial(request_id=_rid(pair, ours), match_handle=HANDLE, reason="no"),
            at=LATER,
        )


def _rid(pair: Pair, ours: int) -> str:
    return get_disclosure(pair.requester, ours).request_id


# ------------------------------------------------------------------------------------------ owner's checks


def test_accept_request_only_from_the_match_partner(pair: Pair) -> None:
    request = prepare_request(pair.requester, pair.requester_alert, "p", "b", "H2").to_wire()
    with pytest.raises(UnknownMatch) as partner, transaction(pair.owner):
        accept_request(pair.owner, peer=THIRD, request=request, at=AT)
    unknown = pb.DisclosureRequest()
    unknown.CopyFrom(request)
    unknown.match_handle = OTHER_HANDLE
    with pytest.raises(UnknownMatch) as missing, transaction(pair.owner):
        accept_request(pair.owner, peer=REQUESTER, request=unknown, at=AT)
    # The same words whether the handle exists with someone else or not at all.
    assert str(partner.value) == str(missing.value)
    assert list_disclosures(pair.owner) == [] and _events(pair.owner) == []


def test_accept_request_is_idempotent_and_request_ids_are_not_reusable(pair: Pair) -> None:
    request = prepare_request(pair.requester, pair.requester_alert, "p", "b", "H3").to_wire()
    with transaction(pair.owner):
        first, duplicate = accept_request(pair.owner, peer=REQUESTER, request=request, at=AT)
    assert not duplicate and first.handling == "H3" and first.status == "pending"
    with transaction(pair.owner):
        again, duplicate = accept_request(pair.owner, peer=REQUESTER, request=request, at=LATER)
    assert duplicate and again.id == first.id
    with pytest.raises(ReleaseRefused, match="already used"), transaction(pair.owner):
        accept_request(pair.owner, peer=THIRD, request=request, at=LATER)
    assert len(list_disclosures(pair.owner)) == 1
    assert _events(pair.owner) == ["disclosure.request-received"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"request_id": "not-a-uuid"}, "UUID"),
        ({"handling": pb.HANDLING_UNSPECIFIED}, "handling"),
        ({"purpose": " "}, "purpose"),
        ({"legal_basis": "x" * 2001}, "legal_basis"),
    ],
)
def test_accept_request_refuses_malformed_requests(pair: Pair, change: dict[str, Any], message: str) -> None:
    request = prepare_request(pair.requester, pair.requester_alert, "p", "b", "H2").to_wire()
    for name, value in change.items():
        setattr(request, name, value)
    with pytest.raises(ReleaseRefused, match=message), transaction(pair.owner):
        accept_request(pair.owner, peer=REQUESTER, request=request, at=AT)
    assert list_disclosures(pair.owner) == []


@pytest.mark.parametrize(
    ("fields", "message"),
    [([], "--fields"), (["title", "passport"], "--fields"), (["case_ref"], "--fields")],
)
def test_build_release_refuses_fields_that_cannot_be_released(pair: Pair, fields: list[str], message: str) -> None:
    _, theirs, _ = pair.request()
    with pytest.raises(LocalError, match=message):
        build_release(pair.owner, theirs, fields, our_agency=OWNER, now=NOW)


def test_build_release_collapses_repeated_fields_and_keeps_their_order(pair: Pair) -> None:
    _, theirs, _ = pair.request()
    release = build_release(pair.owner, theirs, ["contact", "title", "contact"], our_agency=OWNER, now=NOW)
    assert list(release.fields) == ["contact", "title"]
    assert (release.title, release.contact, release.summary) == (OWNER_CASE["title"], OWNER_CASE["contact"], "")


def test_only_the_owner_decides_and_only_once(pair: Pair) -> None:
    ours, theirs, _ = pair.request()
    with pytest.raises(LocalError, match="our own request"):
        build_release(pair.requester, ours, ["title"], our_agency=REQUESTER, now=NOW)
    with pytest.raises(LocalError, match="our own request"):
        denial_for(pair.requester, ours, "no")
    with pytest.raises(LocalError, match="no disclosure 99"):
        build_release(pair.owner, 99, ["title"], our_agency=OWNER, now=NOW)
    with pytest.raises(LocalError, match="--reason"):
        denial_for(pair.owner, theirs, "  ")
    denial = denial_for(pair.owner, theirs, " covert operation ")
    with transaction(pair.owner):
        record_denial(pair.owner, theirs, " covert operation ", LATER)
    with pytest.raises(LocalError, match="already denied"):
        build_release(pair.owner, theirs, ["title"], our_agency=OWNER, now=NOW)
    with pytest.raises(LocalError, match="already denied"):
        denial_for(pair.owner, theirs, "again")
    assert denial.reason == "covert operation"
    assert get_disclosure(pair.owner, theirs).reason == "covert operation"


# ------------------------------------------------------------------------------------------ denials


def test_a_denial_reaches_only_the_request_it_answers(pair: Pair) -> None:
    ours, theirs, _ = pair.request("H3")
    denial = denial_for(pair.owner, theirs, "ongoing covert operation")
    wrong_handle = pb.Denial(request_id=denial.request_id, match_handle=OTHER_HANDLE, reason=denial.reason)
    empty = pb.Denial(request_id=denial.request_id, match_handle=HANDLE, reason=" ")
    before = _row(pair.requester, ours)
    for peer, message, error in [
        (THIRD, denial, UnknownMatch),
        (OWNER, wrong_handle, ReleaseRefused),
        (OWNER, empty, ReleaseRefused),
    ]:
        with pytest.raises(error), transaction(pair.requester):
            accept_denial(pair.requester, peer=peer, denial=message, at=LATER)
        assert _row(pair.requester, ours) == before

    with transaction(pair.requester):
        denied = accept_denial(pair.requester, peer=OWNER, denial=denial, at=LATER)
    assert (denied.status, denied.reason, denied.handling, denied.released) == (
        "denied",
        "ongoing covert operation",
        "H3",
        None,
    )
    assert _events(pair.requester) == ["disclosure.requested", "disclosure.denied"]
    # A release arriving after the denial is refused: the decision stands.
    _, signed = pair.release(theirs, ["title"])
    with pytest.raises(ReleaseRefused, match="already denied"):
        pair.deliver(signed)
    assert _row(pair.requester, ours)[0] == "denied"


# ------------------------------------------------------------------------------------------ listing


def test_listing_filters_by_direction_and_status(pair: Pair) -> None:
    ours, theirs, _ = pair.request("H1")
    assert [d.id for d in list_disclosures(pair.requester, "outgoing", "pending")] == [ours]
    assert list_disclosures(pair.requester, "incoming") == []
    assert list_disclosures(pair.requester, None, "approved") == []
    outgoing_json = get_disclosure(pair.requester, ours).as_json()
    incoming_json = get_disclosure(pair.owner, theirs).as_json()
    assert outgoing_json["alert_id"] == pair.requester_alert and incoming_json["alert_id"] is None
    for shown in (outgoing_json, incoming_json):
        assert {"id", "direction", "peer", "alert_id", "status", "handling", "reason"} <= set(shown)
        assert shown["handling"] == "H1"
        json.dumps(shown)  # the CLI prints it as JSON


def test_a_refusal_does_not_echo_text_the_sender_chose(pair: Pair) -> None:
    """Refusal messages go into the audit log and the server log; a claimed owner is echoed only as a code."""
    _, theirs, _ = pair.request()
    release, _ = pair.release(theirs, ["title"])
    release.owner_agency = "+31 6 12345678\nforged log line"
    payload = release.SerializeToString()
    with pytest.raises(ReleaseRefused) as refused:
        pair.deliver(pb.SignedRelease(release=payload, signature=sign(pair.owner_key, RELEASE_CONTEXT, payload)))
    assert "12345678" not in str(refused.value) and "\n" not in str(refused.value)
