"""Three nodes over mutual TLS: alerts on both sides for strong, medium and weak matches; count-only;
re-runs that neither duplicate alerts nor silently drop the ones whose match went away."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import AGENCIES, Federation

pytestmark = pytest.mark.timeout(120)

# (our case, peer) -> (tier of the alert, its strongest key type, every matched key type), for each side.
# The pairs differ in format or script on purpose: national vs international phone, alpha-2 vs alpha-3
# passport country, IBAN with and without spaces, Cyrillic vs Latin name, plate separators and case,
# names that only sound alike, day and month of birth swapped.
EXPECTED: dict[str, dict[tuple[str, str], tuple[str, str, set[str]]]] = {
    "NL-NP": {
        ("NL-2026-PHONE", "DE-BKA"): ("strong", "phone", {"phone"}),
        ("NL-2026-PASS", "DE-BKA"): ("strong", "passport", {"passport"}),
        ("NL-2026-PLATE", "DE-BKA"): ("medium", "plate", {"plate"}),
        ("NL-2026-SOUND", "DE-BKA"): ("weak", "person-phonetic-dob", {"person-phonetic-dob"}),
        ("NL-2026-IBAN", "RO-DIICOT"): ("strong", "iban", {"iban"}),
        ("NL-2026-PERSON", "RO-DIICOT"): (
            "medium",
            "person-name-dob",
            {"person-name-dob", "person-phonetic-dob", "person-name-dob-swapped"},
        ),
        ("NL-2026-SWAP", "RO-DIICOT"): ("weak", "person-name-dob-swapped", {"person-name-dob-swapped"}),
    },
    "DE-BKA": {
        ("DE-2026-PHONE", "NL-NP"): ("strong", "phone", {"phone"}),
        ("DE-2026-PASS", "NL-NP"): ("strong", "passport", {"passport"}),
        ("DE-2026-PLATE", "NL-NP"): ("medium", "plate", {"plate"}),
        ("DE-2026-SOUND", "NL-NP"): ("weak", "person-phonetic-dob", {"person-phonetic-dob"}),
        ("DE-2026-RO", "RO-DIICOT"): ("strong", "phone", {"phone"}),
    },
    "RO-DIICOT": {
        ("RO-2026-IBAN", "NL-NP"): ("strong", "iban", {"iban"}),
        ("RO-2026-PERSON", "NL-NP"): (
            "medium",
            "person-name-dob",
            {"person-name-dob", "person-phonetic-dob", "person-name-dob-swapped"},
        ),
        ("RO-2026-SWAP", "NL-NP"): ("weak", "person-name-dob-swapped", {"person-name-dob-swapped"}),
        ("RO-2026-DE", "DE-BKA"): ("strong", "phone", {"phone"}),
    },
}
# Which of the peer's cases each of our cases matched (only to pair handles up; never shown to us).
COUNTERPART = {
    "NL-2026-PHONE": "DE-2026-PHONE",
    "NL-2026-PASS": "DE-2026-PASS",
    "NL-2026-PLATE": "DE-2026-PLATE",
    "NL-2026-SOUND": "DE-2026-SOUND",
    "NL-2026-IBAN": "RO-2026-IBAN",
    "NL-2026-PERSON": "RO-2026-PERSON",
    "NL-2026-SWAP": "RO-2026-SWAP",
    "DE-2026-RO": "RO-2026-DE",
}
SHARED_KEYS = {("NL-NP", "DE-BKA"): 4, ("NL-NP", "RO-DIICOT"): 5, ("DE-BKA", "RO-DIICOT"): 1}


def _by_case(alerts: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(a["case_ref"], a["peer"]): a for a in alerts}


def _handles(alert: dict[str, Any]) -> dict[str, str]:
    return {k["key_type"]: k["match_handle"] for k in alert["keys"]}


def _run_everything(federation: Federation) -> None:
    """NL-NP matches both peers; DE-BKA matches RO-DIICOT: every pair runs once, from either end."""
    nl, de = federation.cli_parallel([("NL-NP", ["match", "--json"]), ("DE-BKA", ["match", "RO-DIICOT", "--json"])])
    outcomes = {("NL-NP", o["peer"]): o for o in nl.json()} | {("DE-BKA", o["peer"]): o for o in de.json()}
    assert set(outcomes) == set(SHARED_KEYS)
    for pair, outcome in outcomes.items():
        assert outcome["status"] == "completed", outcome
        assert outcome["mode"] == "mutual"
        assert outcome["intersection"] == SHARED_KEYS[pair], (pair, outcome)


def test_alerts_on_both_sides_for_every_tier(federation: Federation) -> None:
    _run_everything(federation)
    listed = dict(
        zip(
            AGENCIES,
            (r.json() for r in federation.cli_parallel([(c, ["alerts", "list", "--json"]) for c in AGENCIES])),
            strict=True,
        )
    )
    own_refs = {code: {case for case, _ in EXPECTED[code]} for code in AGENCIES}
    for code in AGENCIES:
        alerts = _by_case(listed[code])
        assert set(alerts) == set(EXPECTED[code]), code
        for key, (tier, key_type, key_types) in EXPECTED[code].items():
            alert = alerts[key]
            assert alert["tier"] == tier, (code, key, alert)
            assert alert["key_type"] == key_type, (code, key, alert)
            assert set(alert["key_types"]) == key_types, (code, key, alert)
            assert alert["status"] == "new"
            assert alert["match_state"] == "current"
            assert alert["match_handle"] == _handles(alert)[key_type]
            for field in ("id", "created_at"):
                assert alert[field]
        # Nothing of a peer's case references reaches our alerts.
        text = str(listed[code])
        for other in AGENCIES:
            if other != code:
                for ref in own_refs[other]:
                    assert ref not in text, (code, ref)

    # A handle names one matched key, and both sides name it the same way.
    for ours, theirs in COUNTERPART.items():
        our_code = next(c for c in AGENCIES if any(case == ours for case, _ in EXPECTED[c]))
        their_code = next(c for c in AGENCIES if any(case == theirs for case, _ in EXPECTED[c]))
        our_alert = _by_case(listed[our_code])[(ours, their_code)]
        their_alert = _by_case(listed[their_code])[(theirs, our_code)]
        assert _handles(our_alert) == _handles(their_alert), (ours, theirs)
    every_handle = [k["match_handle"] for code in AGENCIES for a in listed[code] for k in a["keys"]]
    assert len(set(every_handle)) * 2 == len(every_handle)  # each key twice (once per side), no collisions

    shown = federation.cli("NL-NP", "alerts", "show", str(listed["NL-NP"][0]["id"]), "--json").json()
    assert shown == listed["NL-NP"][0]


def test_count_only_prints_the_count_and_records_no_alerts(federation: Federation) -> None:
    as_json, as_table = federation.cli_parallel(
        [("NL-NP", ["match", "--count-only", "--json"]), ("DE-BKA", ["match", "RO-DIICOT", "--count-only"])]
    )
    outcomes = {o["peer"]: o for o in as_json.json()}
    assert {p: o["intersection"] for p, o in outcomes.items()} == {"DE-BKA": 4, "RO-DIICOT": 5}
    assert all(o["mode"] == "count-only" and o["status"] == "completed" for o in outcomes.values())
    assert all(o["new_alerts"] is None for o in outcomes.values())
    row = next(line for line in as_table.stdout.splitlines() if "RO-DIICOT" in line)
    assert "completed" in row
    assert " 1 " in row.replace("│", " ")  # the matched-keys column
    for code in AGENCIES:
        assert federation.alerts(code) == []
        events = [event for event, _ in federation.audit_events(code)]
        assert "session.completed" in events
        assert not any(event.startswith("alert.") for event in events)


def _write_cases(path: Path, *lines: str) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_reruns_neither_duplicate_nor_delete_alerts(federation: Federation, tmp_path: Path) -> None:
    _run_everything(federation)
    before = {code: federation.alerts(code) for code in ("NL-NP", "DE-BKA")}
    _run_everything(federation)
    again = {code: federation.alerts(code) for code in ("NL-NP", "DE-BKA")}
    for code in ("NL-NP", "DE-BKA"):
        assert [(a["id"], a["case_ref"], a["peer"]) for a in again[code]] == [
            (a["id"], a["case_ref"], a["peer"]) for a in before[code]
        ]
        for old, new in zip(before[code], again[code], strict=True):
            assert _handles(old) == _handles(new)
            assert len(new["keys"]) == len(old["keys"])

    # The phone leaves NL-2026-PHONE (re-imported without it); NL-2026-PASS is closed.
    updated = _write_cases(
        tmp_path / "update.jsonl",
        '{"case_ref": "NL-2026-PHONE", "title": "Recruitment via messenger", "summary": "Number withdrawn",'
        ' "contact": "THB unit Rotterdam", "opened": "2026-01-10",'
        ' "identifiers": [{"type": "email", "value": "other.person@example.net"}]}',
    )
    federation.cli("NL-NP", "cases", "import", str(updated))
    federation.cli("NL-NP", "cases", "close", "NL-2026-PASS")
    outcome = federation.cli("NL-NP", "match", "DE-BKA", "--json").json()[0]
    assert outcome["status"] == "completed"
    assert outcome["intersection"] == 2
    assert outcome["new_alerts"] == 0
    assert outcome["gone_alerts"] == 2

    gone = {
        "NL-NP": {("NL-2026-PHONE", "DE-BKA"), ("NL-2026-PASS", "DE-BKA")},
        "DE-BKA": {("DE-2026-PHONE", "NL-NP"), ("DE-2026-PASS", "NL-NP")},
    }
    for code in ("NL-NP", "DE-BKA"):
        alerts = _by_case(federation.alerts(code))
        assert set(alerts) == set(EXPECTED[code]), "an alert was deleted or added"
        for key, alert in alerts.items():
            assert alert["match_state"] == ("gone" if key in gone[code] else "current"), (code, key)
            if key in gone[code]:
                assert not any(k["current"] for k in alert["keys"])
                assert alert["tier"] == EXPECTED[code][key][0]
        events = [event for event, _ in federation.audit_events(code)]
        assert events.count("alert.match-gone") == 2

    # Analysts review; every change is audited and the chain still verifies.
    nl = _by_case(federation.alerts("NL-NP"))
    confirm_id = nl[("NL-2026-PLATE", "DE-BKA")]["id"]
    dismiss_id = nl[("NL-2026-SOUND", "DE-BKA")]["id"]
    federation.cli("NL-NP", "alerts", "confirm", str(confirm_id))
    federation.cli("NL-NP", "alerts", "dismiss", str(dismiss_id), "--reason", "common name, different person")
    refused = federation.cli("NL-NP", "alerts", "dismiss", str(dismiss_id), "--reason", "again", check=False)
    assert refused.returncode != 0
    assert "already dismissed" in refused.stderr
    assert [a["id"] for a in federation.cli("NL-NP", "alerts", "list", "--status", "confirmed", "--json").json()] == [
        confirm_id
    ]
    dismissed = federation.cli("NL-NP", "alerts", "show", str(dismiss_id), "--json").json()
    assert dismissed["status"] == "dismissed"
    assert dismissed["reason"] == "common name, different person"
    audit = federation.audit("NL-NP")
    changes = {(e["event"], e["subject"]) for e in audit if e["event"] in ("alert.confirmed", "alert.dismissed")}
    assert changes == {("alert.confirmed", f"alert:{confirm_id}"), ("alert.dismissed", f"alert:{dismiss_id}")}
    assert "common name" not in str(audit)  # the analyst's free text stays with the alert
    assert "intact" in federation.cli("NL-NP", "audit", "verify").stdout

    # Re-running after review keeps the review: no new alert, statuses untouched.
    federation.cli("NL-NP", "match", "DE-BKA")
    after = _by_case(federation.alerts("NL-NP"))
    assert after[("NL-2026-PLATE", "DE-BKA")]["status"] == "confirmed"
    assert after[("NL-2026-SOUND", "DE-BKA")]["status"] == "dismissed"
    assert len(after) == len(nl)
