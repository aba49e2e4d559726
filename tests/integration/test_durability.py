"""A node killed in the middle of a session restarts with no lost and no duplicated alerts."""

from __future__ import annotations

import signal
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from node.cases.synthetic import agency_case_files, write_jsonl
from tests.integration.conftest import Federation
from tests.waiting import wait_until

pytestmark = pytest.mark.timeout(400)

RESPONDER, INITIATOR = "NL-NP", "DE-BKA"


def _alert_rows(home: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(home / "casebridge.db") as conn:
        return conn.execute(
            "SELECT a.id, a.peer, a.case_id, k.match_handle FROM alerts a JOIN alert_keys k ON k.alert_id = a.id"
            " ORDER BY a.id, k.id"
        ).fetchall()


def _statuses(home: Path) -> list[str]:
    with closing(sqlite3.connect(home / "casebridge.db")) as conn:
        return [r[0] for r in conn.execute("SELECT status FROM sessions ORDER BY id")]


def test_killed_mid_session_restarts_clean(idle_federation: Federation, tmp_path: Path) -> None:
    fed = idle_federation
    # Enough keys that a session lasts long enough to be interrupted.
    files = agency_case_files((RESPONDER, INITIATOR), 6000, seed=5, overlap=0.05, pool_size=50)
    for code in (RESPONDER, INITIATOR):
        fed.cli(code, "cases", "import", str(write_jsonl(files[code], tmp_path / f"{code}.jsonl")), "--quiet")
    fed.serve_subprocess(RESPONDER)
    fed.serve_in_process(INITIATOR)
    fed.publish_addresses()

    first = fed.match(INITIATOR, RESPONDER)
    assert first.status == "completed", first.error
    before = {code: _alert_rows(fed.home(code)) for code in (RESPONDER, INITIATOR)}
    assert before[RESPONDER] and before[INITIATOR]

    # Kill the responder (SIGKILL: no graceful stop) once its database shows the second session running.
    proc = fed.processes[RESPONDER]
    pending = fed.start_match(INITIATOR, RESPONDER)
    wait_until(
        lambda: _statuses(fed.home(RESPONDER)) == ["completed", "running"] or pending.done(),
        60,
        "the responder's second session running",
    )
    assert not pending.done(), "the second session ended before the responder could be killed in it"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    interrupted = pending.result(timeout=120)
    assert interrupted.status == "failed"
    # Neither side lost or gained an alert or key from the broken session.
    assert {code: _alert_rows(fed.home(code)) for code in (RESPONDER, INITIATOR)} == before
    with sqlite3.connect(fed.home(RESPONDER) / "casebridge.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        # The kill landed inside the session: the responder had begun it and never finished it.
        statuses = [r[0] for r in conn.execute("SELECT status FROM sessions ORDER BY id")]
    assert statuses == ["completed", "running"]

    # Restart on the same port; a new session completes and finds exactly what the first one did.
    del fed.processes[RESPONDER]
    fed.serve_subprocess(RESPONDER)
    fed.publish_addresses()
    again = fed.match(INITIATOR, RESPONDER)
    assert again.status == "completed", again.error
    assert (again.intersection, again.new_alerts) == (first.intersection, 0)
    wait_until(lambda: _alert_rows(fed.home(RESPONDER)) == before[RESPONDER], 10, "the responder's alerts as before")
    assert {code: _alert_rows(fed.home(code)) for code in (RESPONDER, INITIATOR)} == before
    # The restart closed the interrupted one.
    assert _statuses(fed.home(RESPONDER)) == ["completed", "failed", "completed"]
    assert "session.interrupted" in [e["event"] for e in fed.audit(RESPONDER)]
    for code in (RESPONDER, INITIATOR):
        assert fed.cli(code, "audit", "verify").returncode == 0
