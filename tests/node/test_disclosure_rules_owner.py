"""The owner's side of node.disclosure on real SQLite files: which requests it accepts, and what it may release.

Only the owner decides on a request, once; a release holds only fields it can release.
"""

from __future__ import annotations

from typing import Any

import pytest

from node.core.errors import LocalError, UnknownMatch
from node.disclosure import (
    ReleaseRefused,
    accept_request,
    build_release,
    denial_for,
    get_disclosure,
    list_disclosures,
    prepare_request,
    record_denial,
)
from node.store import transaction
from proto.casebridge.v1 import casebridge_pb2 as pb
from tests.node.disclosure_helpers import (
    AT,
    LATER,
    NOW,
    OTHER_HANDLE,
    OWNER,
    OWNER_CASE,
    REQUESTER,
    THIRD,
    Pair,
    _events,
)

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
        record_denial(pair.owner, theirs, " covert operation ", LATER, actor="test")
    with pytest.raises(LocalError, match="already denied"):
        build_release(pair.owner, theirs, ["title"], our_agency=OWNER, now=NOW)
    with pytest.raises(LocalError, match="already denied"):
        denial_for(pair.owner, theirs, "again")
    assert denial.reason == "covert operation"
    assert get_disclosure(pair.owner, theirs).reason == "covert operation"
