"""Each step of a disclosure is recorded before it is sent; what could not be delivered is sent again later."""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing

import pytest

from tests.integration.conftest import Federation
from tests.integration.disclosure_helpers import NL, RO, alert_id, events, incoming, outgoing, query, request_args

pytestmark = pytest.mark.timeout(120)


def _stop(federation: Federation, code: str) -> None:
    federation.loop.run(federation.servers.pop(code).stop(0))


def test_an_approval_for_an_unreachable_requester_is_kept_and_delivered_later(federation: Federation) -> None:
    federation.match(NL, RO)
    alert = alert_id(federation, NL, "NL-2026-SWAP", RO)
    federation.cli(NL, *request_args(alert, "H2"))
    ours, request_id = outgoing(federation, NL, alert)
    theirs = incoming(federation, RO, request_id)

    _stop(federation, NL)
    done = federation.cli(RO, "disclose", "approve", str(theirs), "--fields", "title", check=False)
    assert done.returncode == 1
    assert f"casebridge disclose deliver {theirs}" in done.stderr
    assert "Traceback" not in done.stderr
    owner = federation.cli(RO, "disclose", "show", str(theirs), "--json").json()
    assert (owner["status"], owner["delivered"]) == ("approved", False)
    assert owner["delivery_error"]
    assert "disclosure.approved" in events(federation, RO)  # the decision is on record before it travels
    assert query(federation, NL, "SELECT status FROM disclosures WHERE id = ?", ours) == [("pending",)]

    federation.serve_in_process(NL)
    federation.publish_addresses()
    federation.cli(RO, "disclose", "deliver", str(theirs))
    assert query(federation, NL, "SELECT status FROM disclosures WHERE id = ?", ours) == [("approved",)]
    owner = federation.cli(RO, "disclose", "show", str(theirs), "--json").json()
    assert (owner["delivered"], owner["delivery_error"]) == (True, None)
    again = federation.cli(RO, "disclose", "deliver", str(theirs), check=False)
    assert again.returncode == 1 and "nothing waiting" in again.stderr
    for code in (NL, RO):
        assert federation.cli(code, "audit", "verify").returncode == 0


def test_a_request_to_an_unreachable_owner_is_kept_and_sent_later(federation: Federation) -> None:
    federation.match(NL, RO)
    alert = alert_id(federation, NL, "NL-2026-SWAP", RO)
    _stop(federation, RO)
    done = federation.cli(NL, *request_args(alert, "H1"), check=False)
    assert done.returncode == 1 and "disclose deliver" in done.stderr
    ours, request_id = outgoing(federation, NL, alert)
    assert query(federation, NL, "SELECT status, delivered FROM disclosures WHERE id = ?", ours) == [("pending", 0)]

    federation.serve_in_process(RO)
    federation.publish_addresses()
    federation.cli(NL, "disclose", "deliver", str(ours))
    assert incoming(federation, RO, request_id)
    assert query(federation, NL, "SELECT delivered FROM disclosures WHERE id = ?", ours) == [(1,)]


def test_a_request_the_owner_refuses_is_closed_not_retried(federation: Federation) -> None:
    federation.match(NL, RO)
    alert = alert_id(federation, NL, "NL-2026-SWAP", RO)
    # A handle the owner does not share with us: it answers NOT_FOUND, a refusal no retry can change.
    query_args = (os.urandom(16), alert)
    with closing(sqlite3.connect(federation.home(NL) / "casebridge.db")) as conn, conn:
        conn.execute("UPDATE alert_keys SET match_handle = ? WHERE alert_id = ?", query_args)
    done = federation.cli(NL, *request_args(alert, "H1"), check=False)
    assert done.returncode == 1 and "NOT_FOUND" in done.stderr
    ours, _ = outgoing(federation, NL, alert)
    assert query(federation, NL, "SELECT status FROM disclosures WHERE id = ?", ours) == [("refused",)]
    assert "disclosure.refused-by-owner" in events(federation, NL)
    assert federation.cli(NL, "audit", "verify").returncode == 0
