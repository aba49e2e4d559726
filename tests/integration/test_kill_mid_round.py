"""A node killed (SIGKILL) in the middle of a scheduled full round: after its restart the next round
completes, taking up what the cut session had multiplied instead of multiplying it again; every alert is
there once, none is lost or doubled, and both audit chains verify.

Real ``casebridge serve`` processes with scheduling on at NL-NP only, so NL-NP opens the round and DE-BKA
answers; either one is killed while the round's session runs.

By default each side holds 25,000 keys. ``CASEBRIDGE_KILL_CASES=20000`` runs the same test at 200,000 keys a
side (a few minutes; both peers' policies are raised to take sessions that large).
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
from collections import Counter
from contextlib import closing
from pathlib import Path

import pytest

from node.net.local import free_port
from tests.integration.conftest import Federation, set_schedule
from tests.waiting import wait_until

NL, DE = "NL-NP", "DE-BKA"
CASES = int(os.environ.get("CASEBRIDGE_KILL_CASES", "2500"))
PHONES_PER_CASE = 10  # 25,000 keys a side by default: a session of a few seconds, long enough to be cut
LARGE = CASES * PHONES_PER_CASE > 100_000
WAIT_S = 600 if LARGE else 120

pytestmark = pytest.mark.timeout(1800 if LARGE else 300)
CUT_AT = CASES * PHONES_PER_CASE // 2
SHARED = 60  # the first SHARED cases of each side share one phone with the other side's case of that number


def _phone(block: int, n: int) -> str:
    return f"+31 6 {block}{n:07d}"


def _case_file(path: Path, prefix: str, block: int) -> Path:
    with path.open("w", encoding="utf-8") as out:
        for case in range(CASES):
            phones = [_phone(block, case * PHONES_PER_CASE + i) for i in range(PHONES_PER_CASE)]
            if case < SHARED:
                phones[0] = _phone(5, case)
            identifiers = [{"type": "phone", "value": p} for p in phones]
            record = {"case_ref": f"{prefix}-{case:05d}", "title": "t", "summary": "s", "contact": "c",
                      "opened": "2026-11-01", "identifiers": identifiers}  # fmt: skip
            out.write(json.dumps(record) + "\n")
    return path


def _sessions(fed: Federation, code: str) -> list[tuple[str, str, str | None]]:
    """(role, status, reason) of the sessions between NL-NP and DE-BKA, in order."""
    peer = DE if code == NL else NL
    with closing(sqlite3.connect(fed.home(code) / "casebridge.db")) as conn:
        return conn.execute("SELECT role, status, reason FROM sessions WHERE peer = ? ORDER BY id", (peer,)).fetchall()


def _attempt_file(fed: Federation, code: str) -> Path:
    peer, role = (DE, "initiator") if code == NL else (NL, "responder")
    return fed.home(code) / "attempts" / f"{peer}.{role}"


def _alerted_cases(fed: Federation, code: str, peer: str) -> Counter[str]:
    return Counter(a["case_ref"] for a in fed.alerts(code) if a["peer"] == peer and a["match_state"] == "current")


@pytest.mark.parametrize("victim", [NL, DE], ids=["initiator-killed", "responder-killed"])
def test_a_round_cut_by_sigkill_is_made_good_by_the_next_one(
    idle_federation: Federation, tmp_path: Path, victim: str
) -> None:
    fed = idle_federation
    fed.cli_parallel([
        (NL, ["cases", "import", str(_case_file(tmp_path / "nl.jsonl", "NLK", 2))]),
        (DE, ["cases", "import", str(_case_file(tmp_path / "de.jsonl", "DEK", 3))]),
    ])  # fmt: skip
    if LARGE:
        for code, peer in ((NL, DE), (DE, NL)):
            fed.cli(code, "peers", "update", peer, "--max-set-size", str(2 * CASES * PHONES_PER_CASE),
                    "--daily-quota", str(10 * CASES * PHONES_PER_CASE))  # fmt: skip
    ports = {NL: free_port(), DE: free_port()}
    fed.ports.update(ports)
    fed.publish_addresses()
    set_schedule(fed.home(NL), enabled=True, after_import=1, interval=3600)
    fed.serve_subprocess(DE, port=ports[DE])
    fed.serve_subprocess(NL, port=ports[NL])

    # Cut the first round while both sides hold it open, once the victim has multiplied a quarter of the points
    # it multiplies in the session (its keys and the other side's): CUT_AT pairs of 32-byte points in its
    # attempt file, which also holds a header of fewer than 200 bytes.
    wait_until(lambda: ("responder", "running", None) in _sessions(fed, DE), WAIT_S, "DE answering NL's round")
    attempt = _attempt_file(fed, victim)
    wait_until(lambda: attempt.exists() and attempt.stat().st_size > 64 * CUT_AT, WAIT_S, "the victim's first quarter")
    fed.processes[victim].send_signal(signal.SIGKILL)
    fed.processes[victim].wait(timeout=30)
    assert not [s for s in _sessions(fed, DE) if s[1] == "completed"], "the round ended before the kill"
    fed.serve_subprocess(victim, port=ports[victim])

    def made_good() -> bool:
        return any(s[:2] == ("initiator", "completed") for s in _sessions(fed, NL)) and any(
            s[:2] == ("responder", "completed") for s in _sessions(fed, DE)
        )

    wait_until(made_good, WAIT_S, "the next round to complete at both nodes")
    # The cut session is on record at the killed node as interrupted, at the other as failed.
    cut = [s for s in _sessions(fed, victim) if s[1] == "failed" and "interrupted" in (s[2] or "")]
    assert len(cut) == 1, _sessions(fed, victim)
    survivor = DE if victim == NL else NL
    assert [s[1] for s in _sessions(fed, survivor)][:1] == ["failed"], _sessions(fed, survivor)
    assert not [s for code in (NL, DE) for s in _sessions(fed, code) if s[1] == "running"]
    # The round that made it good was a full session (the cut one opened no epoch), over every key.
    for code in (NL, DE):
        with closing(sqlite3.connect(fed.home(code) / "casebridge.db")) as conn:
            kinds = conn.execute("SELECT kind, own_size FROM sessions WHERE status = 'completed'").fetchall()
        assert [kind for kind, _ in kinds] == ["full"] and kinds[0][1] >= CASES * PHONES_PER_CASE, (code, kinds)
    expected = {f"NLK-{i:05d}" for i in range(SHARED)}, {f"DEK-{i:05d}" for i in range(SHARED)}
    for code, peer, cases, prefix in ((NL, DE, expected[0], "NLK-"), (DE, NL, expected[1], "DEK-")):
        alerted = _alerted_cases(fed, code, peer)
        assert {ref for ref in alerted if ref.startswith(prefix)} == cases, code
        assert all(n == 1 for n in alerted.values()), (code, alerted)
    # The retry took up the cut session's attempt: what the victim had multiplied was not multiplied again,
    # and a completed session leaves no attempt behind.
    reused = re.search(r"reused (\d+) of the (\d+) points", fed.serve_logs[victim].read_text())
    assert reused is not None and int(reused.group(1)) >= CUT_AT - 4, fed.serve_logs[victim].read_text()[-2000:]
    assert not _attempt_file(fed, NL).exists() and not _attempt_file(fed, DE).exists()
    for code in (NL, DE):
        fed.cli(code, "audit", "verify")
