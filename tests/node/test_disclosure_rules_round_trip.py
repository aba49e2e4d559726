"""The rules of node.disclosure on real SQLite files: a request, the owner's release, and reading the result.

No network: the wire messages are passed from one database's functions to the other's, as the RPC
handlers would.
"""

from __future__ import annotations

import json

from node.disclosure import get_disclosure, list_disclosures, record_approval
from node.store import audit as audit
from node.store import transaction
from proto.casebridge.v1 import casebridge_pb2 as pb
from tests.node.disclosure_helpers import HANDLE, LATER, OWNER_CASE, Pair, _events

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
        approved = record_approval(pair.owner, theirs, release, signed.release, signed.signature, LATER, actor="test")
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
