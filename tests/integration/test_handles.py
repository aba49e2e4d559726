"""A matched key keeps one handle on both sides, even when a newer case on one side joins the match."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from matcher.psi import Role
from node.matching import outcome, steps
from tests.integration.conftest import Federation, spawn_cli
from tests.integration.disclosure_helpers import DE, NL, alert_id, outgoing, query, request_args
from tests.waiting import wait_until

pytestmark = pytest.mark.timeout(120)


def _handles(federation: Federation, code: str, alert: int) -> set[bytes]:
    return {
        bytes(r[0]) for r in query(federation, code, "SELECT match_handle FROM alert_keys WHERE alert_id = ?", alert)
    }


def test_a_new_case_joining_a_match_reuses_the_handle_and_can_be_followed_up(
    federation: Federation, tmp_path: Path
) -> None:
    federation.match(NL, DE)
    first = _handles(federation, DE, alert_id(federation, DE, "DE-2026-PHONE", NL))
    # DE opens another case on the same phone; the next session gives it an alert of its own.
    later = {
        "case_ref": "DE-2026-LATER",
        "title": "Folgefall",
        "identifiers": [{"type": "phone", "value": "+31612345678"}],
    }
    path = tmp_path / "later.jsonl"
    path.write_text(json.dumps(later) + "\n")
    federation.cli(DE, "cases", "import", str(path), "--quiet")
    federation.match(NL, DE)
    newer = alert_id(federation, DE, "DE-2026-LATER", NL)
    assert _handles(federation, DE, newer) == first  # not the second session's fresh handle
    nl_alert = alert_id(federation, NL, "NL-2026-PHONE", DE)
    assert first <= _handles(federation, NL, nl_alert)

    # So NL can be asked about it: the owner finds the handle among its alerts with DE.
    federation.cli(DE, *request_args(newer, "H2"))
    ours, _ = outgoing(federation, DE, newer)
    assert query(federation, DE, "SELECT status, delivered FROM disclosures WHERE id = ?", ours) == [("pending", 1)]


def test_a_side_killed_before_it_records_agrees_on_handles_after_the_next_round(
    federation: Federation, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The initiator (a real ``casebridge match`` process) is killed after the responder recorded the session
    and before the initiator received its Result, so the two histories differ: the responder has alerts from
    the first round, the initiator only from the second. The handles still agree and a request goes through."""
    recorded, resume = threading.Event(), threading.Event()
    original = outcome.record_completed

    def record_then_hold(home: Any, facts: Any, *args: Any) -> Any:
        summary = original(home, facts, *args)
        if facts.role == Role.RESPONDER.value and not recorded.is_set():
            recorded.set()
            resume.wait(60)  # the Result leaves only after this, by which time the initiator is dead
        return summary

    monkeypatch.setattr(steps, "record_completed", record_then_hold)
    initiator = spawn_cli(federation.home(DE), "match", NL)
    try:
        wait_until(recorded.is_set, 60, "the responder to record the first round")
        initiator.kill()
        initiator.wait(timeout=30)
    finally:
        resume.set()
    assert initiator.returncode != 0
    nl_alert = alert_id(federation, NL, "NL-2026-PHONE", DE)
    assert query(federation, DE, "SELECT COUNT(*) FROM alerts") == [(0,)]  # it never recorded the first round

    again = federation.cli(DE, "match", NL, "--json")
    assert again.returncode == 0
    de_alert = alert_id(federation, DE, "DE-2026-PHONE", NL)
    assert _handles(federation, DE, de_alert) == _handles(federation, NL, nl_alert)
    federation.cli(DE, *request_args(de_alert, "H2"))
    ours, _ = outgoing(federation, DE, de_alert)
    assert query(federation, DE, "SELECT status, delivered FROM disclosures WHERE id = ?", ours) == [("pending", 1)]
