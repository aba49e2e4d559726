"""Serving nodes match by themselves: a case change reaches every peer within a minute, nobody types match.

Both nodes run as real ``casebridge serve`` processes over mutual TLS; cases change through the real CLI.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from node.net.local import free_port
from tests.integration.conftest import Federation, set_schedule
from tests.waiting import wait_until

pytestmark = pytest.mark.timeout(240)

NL, DE = "NL-NP", "DE-BKA"
SHARED_PHONE = "+49 151 2345 6789"
# The acceptance bound: an import at one node shows as alerts at both within this many seconds.
WITHIN_S = 60.0


def _case(path: Path, ref: str, phone: str) -> Path:
    record = {"case_ref": ref, "title": "t", "summary": "s", "contact": "c", "opened": "2026-11-30",
              "identifiers": [{"type": "phone", "value": phone}]}  # fmt: skip
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    return path


def _serve_pair(fed: Federation, **schedule: Any) -> None:
    """NL and DE serving with scheduling on, each knowing the other's port before it starts."""
    ports = {NL: free_port(), DE: free_port()}
    fed.ports.update(ports)
    fed.publish_addresses()
    for code in (NL, DE):
        set_schedule(fed.home(code), enabled=True, **schedule)
    for code in (NL, DE):
        fed.serve_subprocess(code, port=ports[code])


def _alerts_of_case(fed: Federation, code: str, case_ref: str) -> list[dict[str, Any]]:
    return [a for a in fed.alerts(code) if a["case_ref"] == case_ref]


def _sessions(fed: Federation, code: str) -> list[tuple[str, str, str]]:
    with closing(sqlite3.connect(fed.home(code) / "casebridge.db")) as conn:
        return conn.execute("SELECT peer, role, status FROM sessions ORDER BY id").fetchall()


def _status(fed: Federation, code: str) -> dict[str, Any]:
    document: dict[str, Any] = fed.cli(code, "schedule", "status", "--json").json()
    return document


def _peer_status(fed: Federation, code: str, peer: str) -> dict[str, Any]:
    return next(p for p in _status(fed, code)["peers"] if p["peer"] == peer)


def test_an_import_reaches_both_nodes_and_a_close_marks_them_gone(idle_federation: Federation, tmp_path: Path) -> None:
    fed = idle_federation
    fed.cli(DE, "cases", "import", str(_case(tmp_path / "de.jsonl", "DE-SCHED-1", SHARED_PHONE)))
    _serve_pair(fed, after_import=1, interval=3600)

    # The first comparison when the partners connect, run by the nodes themselves.
    def first_round() -> bool:
        return "completed" in (
            _peer_status(fed, NL, DE)["last_round_outcome"],
            _peer_status(fed, DE, NL)["last_round_outcome"],
        )

    wait_until(first_round, WITHIN_S, "a first round")
    assert not _alerts_of_case(fed, DE, "DE-SCHED-1")  # nothing at NL shares its phone yet

    fed.cli(NL, "cases", "import", str(_case(tmp_path / "nl.jsonl", "NL-SCHED-1", SHARED_PHONE)))
    nl_alerts = wait_until(lambda: _alerts_of_case(fed, NL, "NL-SCHED-1"), WITHIN_S, "NL's alert")
    de_alerts = wait_until(lambda: _alerts_of_case(fed, DE, "DE-SCHED-1"), WITHIN_S, "DE's alert")
    assert nl_alerts[0]["peer"] == DE and de_alerts[0]["peer"] == NL
    assert nl_alerts[0]["match_handle"] == de_alerts[0]["match_handle"]
    status = _peer_status(fed, NL, DE)
    assert status["last_round_cause"] == "cases changed" and status["failures"] == 0, status

    fed.cli(NL, "cases", "close", "NL-SCHED-1")
    for code, ref in ((NL, "NL-SCHED-1"), (DE, "DE-SCHED-1")):

        def gone(c: str = code, r: str = ref) -> bool:
            return bool(_alerts_of_case(fed, c, r)[0]["match_state"] == "gone")

        wait_until(gone, WITHIN_S, f"{code}'s alert marked gone")
    # One alert each, never duplicated by the rounds; no session ever ran by hand.
    assert len(_alerts_of_case(fed, NL, "NL-SCHED-1")) == len(_alerts_of_case(fed, DE, "DE-SCHED-1")) == 1
    assert not [e for e, _ in fed.audit_events(NL) if e == "session.misbehaved"]
    for code in (NL, DE):
        fed.cli(code, "audit", "verify")


def test_an_unreachable_peer_is_retried_on_a_backoff_until_it_answers(idle_federation: Federation) -> None:
    fed = idle_federation
    ports = {NL: free_port(), DE: free_port()}
    fed.ports.update(ports)
    fed.publish_addresses()
    set_schedule(fed.home(NL), enabled=True, after_import=1, interval=20)
    fed.serve_subprocess(NL, port=ports[NL])
    failing = wait_until(lambda: (s := _peer_status(fed, NL, DE))["failures"] >= 2 and s, 60, "two failed rounds")
    assert failing["last_round_outcome"] == "failed" and failing["next_cause"] == "retry", failing
    assert failing["last_session_status"] == "failed"

    fed.serve_subprocess(DE, port=ports[DE])  # DE's own scheduling stays off: only NL runs rounds
    done = wait_until(lambda: (s := _peer_status(fed, NL, DE))["last_round_outcome"] == "completed" and s, 60,
                      "a round once DE answers")  # fmt: skip
    assert done["failures"] == 0 and done["last_round_cause"] == "retry"
    # Replanned once the round is in: the next one is a catch-up an interval on.
    wait_until(lambda: _peer_status(fed, NL, DE)["next_cause"] == "interval", 30, "the next round replanned")
    assert {(p, r) for p, r, s in _sessions(fed, DE) if s == "completed"} == {(NL, "responder")}


def test_status_without_a_serving_node_says_so(idle_federation: Federation) -> None:
    fed = idle_federation
    text = fed.cli(NL, "schedule", "status").stdout
    assert "scheduling is off" in text  # the test homes turn it off
    set_schedule(fed.home(NL), enabled=True)
    text = fed.cli(NL, "schedule", "status").stdout
    assert "no serving node is scheduling rounds now" in text
    document = _status(fed, NL)
    assert document["running"] is False and document["after_import"] == 30 and document["interval"] == 900
    assert {p["peer"] for p in document["peers"]} == {DE, "RO-DIICOT"}
    assert all(p["next_at"] is None for p in document["peers"])


def test_a_change_the_peers_session_already_matched_costs_no_round_of_its_own(
    idle_federation: Federation, tmp_path: Path
) -> None:
    fed = idle_federation
    ports = {NL: free_port(), DE: free_port()}
    fed.ports.update(ports)
    fed.publish_addresses()
    set_schedule(fed.home(NL), enabled=True, after_import=3600, interval=7200)  # NL would wait an hour
    set_schedule(fed.home(DE), enabled=True, after_import=1, interval=7200)
    for code in (NL, DE):
        fed.serve_subprocess(code, port=ports[code])
    wait_until(lambda: _peer_status(fed, NL, DE)["next_cause"] == "interval", WITHIN_S, "the first round")

    fed.cli(NL, "cases", "import", str(_case(tmp_path / "nl.jsonl", "NL-SCHED-2", SHARED_PHONE)))
    wait_until(lambda: _peer_status(fed, NL, DE)["next_cause"] == "cases changed", WITHIN_S, "NL to plan a round")
    fed.cli(DE, "cases", "import", str(_case(tmp_path / "de.jsonl", "DE-SCHED-2", SHARED_PHONE)))
    # DE's round (after its own change) loads NL's current set too: NL's change is matched by it ...
    wait_until(lambda: _alerts_of_case(fed, NL, "NL-SCHED-2"), WITHIN_S, "NL's alert from DE's round")
    # ... so NL plans no round of its own for it, only the next catch-up.
    wait_until(lambda: _peer_status(fed, NL, DE)["next_cause"] == "interval", WITHIN_S, "NL to drop its round")
    initiated = [s for s in _sessions(fed, NL) if s[0] == DE and s[1] == "initiator" and s[2] == "completed"]
    assert len(initiated) <= 1  # at most the first round; none for the change
