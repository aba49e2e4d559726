"""The two-step follow-up over real nodes: request, the owner's decision, and what each side then sees.

Analysts act through the real CLI in child processes; the nodes serve in-process over mutual TLS and keep
their state in real SQLite files.
"""

from __future__ import annotations

import pytest

from crypto.certificates import load_certificate, verify
from node.core.home import NodeHome
from node.disclosure import RELEASE_CONTEXT
from proto.casebridge.v1 import casebridge_pb2 as pb
from tests.integration.conftest import Federation
from tests.integration.disclosure_helpers import DE, NL, RO, alert_id, events, incoming, outgoing, query, request_args

pytestmark = pytest.mark.timeout(180)


# ------------------------------------------------------------------------------------------ approve


def test_approve_releases_exactly_the_chosen_fields_with_handling_and_safeguarding(federation: Federation) -> None:
    federation.match(NL, RO)
    victim_alert = alert_id(federation, NL, "NL-2026-SWAP", RO)  # RO's matched person is a victim
    suspect_alert = alert_id(federation, NL, "NL-2026-PERSON", RO)  # RO's matched person is a suspect
    federation.cli_parallel([(NL, request_args(victim_alert, "H3")), (NL, request_args(suspect_alert, "H1"))])
    victim_id, victim_request = outgoing(federation, NL, victim_alert)
    suspect_id, suspect_request = outgoing(federation, NL, suspect_alert)
    owner_victim = incoming(federation, RO, victim_request)
    owner_suspect = incoming(federation, RO, suspect_request)

    # The handling code chosen at request time is in the owner's incoming row.
    assert query(federation, RO, "SELECT handling, status FROM disclosures WHERE id = ?", owner_victim) == [
        ("H3", "pending")
    ]
    pending = federation.cli(RO, "disclose", "list", "--json", "--direction", "incoming", "--status", "pending")
    assert {(d["id"], d["handling"], d["peer"]) for d in pending.json()} == {
        (owner_victim, "H3", NL),
        (owner_suspect, "H1", NL),
    }

    federation.cli_parallel(
        [
            (RO, ["disclose", "approve", str(owner_victim), "--fields", "title,persons"]),
            (RO, ["disclose", "approve", str(owner_suspect), "--fields", "title,persons"]),
        ]
    )
    shown, shown_text, alert, other, other_text, other_alert, owner_view = federation.cli_parallel(
        [
            (NL, ["disclose", "show", str(victim_id), "--json"]),
            (NL, ["disclose", "show", str(victim_id)]),
            (NL, ["alerts", "show", str(victim_alert), "--json"]),
            (NL, ["disclose", "show", str(suspect_id), "--json"]),
            (NL, ["disclose", "show", str(suspect_id)]),
            (NL, ["alerts", "show", str(suspect_alert), "--json"]),
            (RO, ["disclose", "show", str(owner_victim), "--json"]),
        ]
    )

    # Exactly the chosen fields (and the owner's case reference), under the requested handling code.
    d = shown.json()
    assert d["status"] == "approved"
    assert d["handling"] == "H3"
    assert d["fields"] == ["title", "persons"]
    assert d["released"] == {
        "case_ref": "RO-2026-SWAP",
        "title": "Victima",
        "persons": [{"name": "Maria Popescu", "dob": "1988-09-05", "role": "victim"}],
    }
    assert d["case_ref"] == "RO-2026-SWAP"
    for withheld in ("Victima raportata disparuta", "DIICOT Constanta"):  # RO's summary and contact
        assert withheld not in shown.stdout
        assert withheld not in shown_text.stdout
    # The safeguarding marker, where the requester looks.
    assert d["safeguarding"] is True and "victim" in d["safeguarding_note"]
    assert "SAFEGUARDING" in shown_text.stdout and "H3" in shown_text.stdout
    assert alert.json()["safeguarding"] is True

    # A release naming only a suspect carries no marker.
    o = other.json()
    assert o["status"] == "approved" and o["handling"] == "H1"
    assert o["released"] == {
        "case_ref": "RO-2026-PERSON",
        "title": "Recrutor",
        "persons": [{"name": "Ivan Petrov", "dob": "1990-04-12", "role": "suspect"}],
    }
    assert o["safeguarding"] is False and o["safeguarding_note"] is None
    assert "SAFEGUARDING" not in other_text.stdout and "H1" in other_text.stdout
    assert other_alert.json()["safeguarding"] is False

    # The owner's view shows what it released, under the same code.
    owner = owner_view.json()
    assert owner["direction"] == "incoming" and owner["status"] == "approved"
    assert owner["handling"] == "H3" and owner["fields"] == ["title", "persons"]
    assert owner["released"] == d["released"] and owner["case_ref"] == "RO-2026-SWAP"
    assert owner["safeguarding"] is True

    # The stored release is the owner's signed message, carrying the handling code and the marker.
    blob, signature = query(federation, NL, "SELECT release, signature FROM disclosures WHERE id = ?", victim_id)[0]
    verify(load_certificate(NodeHome(federation.home(RO)).tls_cert.read_bytes()), RELEASE_CONTEXT, blob, signature)
    release = pb.Release.FromString(blob)
    assert release.handling == pb.HANDLING_H3 and release.safeguarding
    assert release.owner_agency == RO and release.requester_agency == NL
    assert not release.summary and not release.contact

    # Every step on both sides, and both chains intact.
    nl_events, ro_events = events(federation, NL), events(federation, RO)
    assert nl_events.count("disclosure.requested") == 2 and nl_events.count("disclosure.released") == 2
    assert ro_events.count("disclosure.request-received") == 2 and ro_events.count("disclosure.approved") == 2
    nl_audit, ro_audit, nl_verify, ro_verify = federation.cli_parallel(
        [
            (NL, ["audit", "list", "--json"]),
            (RO, ["audit", "list", "--json"]),
            (NL, ["audit", "verify"]),
            (RO, ["audit", "verify"]),
        ]
    )
    released = [e for e in nl_audit.json() if e["event"] == "disclosure.released"]
    assert {(e["peer"], e["detail"]["handling"], e["detail"]["safeguarding"]) for e in released} == {
        (RO, "H3", True),
        (RO, "H1", False),
    }
    approved = [e for e in ro_audit.json() if e["event"] == "disclosure.approved"]
    assert {(e["peer"], e["subject"]) for e in approved} == {
        (NL, f"disclosure:{owner_victim}"),
        (NL, f"disclosure:{owner_suspect}"),
    }
    # The audit log records the steps, never the released content.
    for listing in (nl_audit.stdout, ro_audit.stdout):
        assert "Maria Popescu" not in listing and "RO-2026-SWAP" not in listing and "Victima" not in listing
    assert nl_verify.returncode == 0 and ro_verify.returncode == 0


# ------------------------------------------------------------------------------------------ deny


def test_deny_tells_the_requester_the_reason(federation: Federation) -> None:
    federation.match(NL, DE)
    alert = alert_id(federation, NL, "NL-2026-PHONE", DE)
    federation.cli(NL, *request_args(alert, "H0"))
    ours, request_id = outgoing(federation, NL, alert)
    theirs = incoming(federation, DE, request_id)
    reason = "ongoing covert operation; ask again in June"

    federation.cli(DE, "disclose", "deny", str(theirs), "--reason", reason)
    shown, listed, owner_view, again = federation.cli_parallel(
        [
            (NL, ["disclose", "show", str(ours), "--json"]),
            (NL, ["disclose", "list", "--json", "--status", "denied"]),
            (DE, ["disclose", "show", str(theirs), "--json"]),
            (DE, ["disclose", "approve", str(theirs)]),
        ],
        check=False,
    )
    d = shown.json()
    assert d["status"] == "denied" and d["reason"] == reason and d["handling"] == "H0"
    assert d["released"] is None and d["case_ref"] is None and d["fields"] == []
    assert [(x["id"], x["direction"], x["peer"], x["reason"]) for x in listed.json()] == [
        (ours, "outgoing", DE, reason)
    ]
    assert owner_view.json()["status"] == "denied" and owner_view.json()["reason"] == reason
    # A decision is final: the owner cannot approve what it denied.
    assert again.returncode != 0 and "already denied" in again.stderr

    assert "disclosure.requested" in events(federation, NL) and "disclosure.denied" in events(federation, NL)
    assert "disclosure.request-received" in events(federation, DE) and "disclosure.denied" in events(federation, DE)
    assert "disclosure.released" not in events(federation, NL)
    verified = federation.cli_parallel([(NL, ["audit", "verify"]), (DE, ["audit", "verify"])], check=False)
    assert [r.returncode for r in verified] == [0, 0], [r.stderr for r in verified]
