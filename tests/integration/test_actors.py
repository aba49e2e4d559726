"""Every audit entry written for a person's command names who ran it; what a node does by itself says so.

Analysts act through the real CLI in child processes against real nodes, so the actor is the one the CLI
really records (``cli:<OS user>``), not one a test passed in.
"""

from __future__ import annotations

import getpass
import json

import pytest

from tests.integration.conftest import Federation
from tests.integration.disclosure_helpers import NL, RO, alert_id, incoming, outgoing, query, request_args

pytestmark = pytest.mark.timeout(180)

ME = f"cli:{getpass.getuser()}"
PEOPLE_EVENTS = {
    "alert.confirmed",
    "alert.dismissed",
    "case.closed",
    "case.reopened",
    "disclosure.requested",
    "disclosure.approved",
    "disclosure.denied",
}


def _actors(federation: Federation, code: str) -> dict[str, set[str | None]]:
    found: dict[str, set[str | None]] = {}
    for event, detail in query(federation, code, "SELECT event, detail FROM audit ORDER BY seq"):
        found.setdefault(str(event), set()).add(json.loads(detail).get("actor"))
    return found


def test_each_decision_and_change_a_person_makes_is_audited_with_its_actor(federation: Federation) -> None:
    federation.match(NL, RO)
    swap = alert_id(federation, NL, "NL-2026-SWAP", RO)
    person = alert_id(federation, NL, "NL-2026-PERSON", RO)
    federation.cli_parallel(
        [
            (NL, ["alerts", "confirm", str(swap)]),
            (NL, ["alerts", "dismiss", str(person), "--reason", "different person"]),
            (NL, ["cases", "close", "NL-2026-PASS"]),
        ]
    )
    federation.cli_parallel([(NL, ["cases", "reopen", "NL-2026-PASS"]), (NL, ["alerts", "confirm", str(person)])])
    federation.cli_parallel([(NL, request_args(swap, "H2")), (NL, request_args(person, "H1"))])
    approved = incoming(federation, RO, outgoing(federation, NL, swap)[1])
    denied = incoming(federation, RO, outgoing(federation, NL, person)[1])
    federation.cli_parallel(
        [
            (RO, ["disclose", "approve", str(approved), "--fields", "title"]),
            (RO, ["disclose", "deny", str(denied), "--reason", "not now"]),
        ]
    )

    actors = _actors(federation, NL) | {
        event: names for event, names in _actors(federation, RO).items() if event.startswith("disclosure.")
    }
    assert {event: actors.get(event) for event in PEOPLE_EVENTS} == {event: {ME} for event in PEOPLE_EVENTS}
    # Sessions and the alerts they raise are the node's own doing, not a person's decision.
    assert actors["alert.created"] == {None}
