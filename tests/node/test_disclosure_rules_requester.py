"""The requester's side of node.disclosure on real SQLite files: what it asks, and what it accepts in answer.

A release or denial the requester refuses leaves its disclosure row and audit log as they were.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from sqlite_utils import Database

from crypto.certificates import sign
from node.core.errors import LocalError, UnknownMatch
from node.disclosure import RELEASE_CONTEXT, ReleaseRefused, accept_denial, denial_for, get_disclosure, prepare_request
from node.store import transaction
from proto.casebridge.v1 import casebridge_pb2 as pb
from tests.node.disclosure_helpers import HANDLE, LATER, OTHER_HANDLE, OWNER, OWNER_CASE, THIRD, Pair, _events


def _row(db: Database, disclosure_id: int) -> tuple[Any, ...]:
    return tuple(
        db.conn.execute(
            "SELECT status, reason, fields, release, signature, safeguarding FROM disclosures WHERE id = ?",
            (disclosure_id,),
        ).fetchone()
    )


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
    # Once decided, the same release delivered again changes nothing, and a late denial is refused.
    before = _row(pair.requester, ours)
    assert pair.deliver(signed).status == "approved"
    assert _row(pair.requester, ours) == before
    with pytest.raises(ReleaseRefused, match="already approved"), transaction(pair.requester):
        accept_denial(
            pair.requester,
            peer=OWNER,
            denial=pb.Denial(request_id=_rid(pair, ours), match_handle=HANDLE, reason="no"),
            at=LATER,
        )


def _rid(pair: Pair, ours: int) -> str:
    return get_disclosure(pair.requester, ours).request_id


def test_a_refusal_does_not_echo_text_the_sender_chose(pair: Pair) -> None:
    """Refusal messages go into the audit log and the server log; a claimed owner is echoed only as a code."""
    _, theirs, _ = pair.request()
    release, _ = pair.release(theirs, ["title"])
    release.owner_agency = "+31 6 12345678\nforged log line"
    payload = release.SerializeToString()
    with pytest.raises(ReleaseRefused) as refused:
        pair.deliver(pb.SignedRelease(release=payload, signature=sign(pair.owner_key, RELEASE_CONTEXT, payload)))
    assert "12345678" not in str(refused.value) and "\n" not in str(refused.value)


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
