"""Case use cases: import, close, reopen and delete, each audited with counts only (and an opaque subject)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from node.core.errors import LocalError
from node.core.home import NodeHome
from node.ops import Operations
from node.ops import audit as ops_audit
from node.ops import cases as ops_cases
from node.store import reading, unit_of_work

ACTOR = "cli:analyst"
PHONE = {"type": "phone", "value": "06 1234 5678", "region": "NL"}
PASSPORT = {"type": "passport", "value": "X1234567", "country": "ROU"}


def _imported(home: Path, tmp_path: Path) -> Operations:
    cases = [
        {"case_ref": "NL-1", "title": "one", "identifiers": [PHONE, PASSPORT], "persons": []},
        {"case_ref": "NL-2", "title": "two", "identifiers": [PHONE], "persons": []},
    ]
    path = tmp_path / "cases.jsonl"
    path.write_text("".join(json.dumps(c) + "\n" for c in cases), encoding="utf-8")
    ops = Operations(NodeHome(home), ACTOR)
    ops_cases.import_file(ops, path, workers=1)
    return ops


def _status(ops: Operations) -> dict[str, str]:
    return {row.case_ref: row.status for row in ops_cases.list_all(ops)}


def test_reopen_a_closed_case(home: Path, tmp_path: Path) -> None:
    ops = _imported(home, tmp_path)
    assert ops_cases.close(ops, "NL-1") is True
    assert ops_cases.reopen(ops, "NL-1") is True
    assert ops_cases.reopen(ops, "NL-1") is False
    assert _status(ops) == {"NL-1": "open", "NL-2": "open"}
    for event in ("case.closed", "case.reopened"):
        [entry] = [e for e in ops_audit.list_entries(ops) if e.event == event]
        assert entry.subject is not None and entry.subject.startswith("case:")
        assert entry.detail["actor"] == ACTOR
        assert (entry.detail["identifiers"], entry.detail["persons"], entry.detail["alerts"]) == (2, 0, 0)
        assert int(entry.detail["keys"]) > 0
    assert ops_cases.close(ops, "NL-2") is True
    assert ops_cases.close(ops, "NL-2") is False
    assert len([e for e in ops_audit.list_entries(ops) if e.event == "case.closed"]) == 2
    with pytest.raises(LocalError, match="no case 'NL-9'"):
        ops_cases.reopen(ops, "NL-9")


def test_an_import_is_audited_with_counts_only(home: Path, tmp_path: Path) -> None:
    ops = _imported(home, tmp_path)
    [entry] = [e for e in ops_audit.list_entries(ops) if e.event == "cases.imported"]
    assert entry.subject is None
    detail = dict(entry.detail)
    keys = detail.pop("keys")
    assert detail == {"actor": ACTOR, "cases_added": 2, "cases_updated": 0, "identifiers": 3, "persons": 0}
    assert isinstance(keys, int) and keys >= 3
    written = json.dumps(entry.as_json())
    for secret in ("NL-1", "1234", "X1234567", "cases.jsonl"):
        assert secret not in written
    assert ops_audit.verify(ops).intact


def test_delete_removes_the_case_its_keys_and_alerts(home: Path, tmp_path: Path) -> None:
    ops = _imported(home, tmp_path)
    with unit_of_work(ops.home) as db:
        case_id = db.conn.execute("SELECT id FROM cases WHERE case_ref = 'NL-1'").fetchone()[0]
        db.conn.execute(
            "INSERT INTO alerts (peer, case_id, tier, created_at, updated_at, last_matched_at)"
            " VALUES ('DE-BKA', ?, 'strong', 'x', 'x', 'x')",
            (case_id,),
        )
    gone = ops_cases.delete(ops, "NL-1")
    assert (gone.identifiers, gone.alerts) == (2, 1)
    assert gone.keys > 0
    assert _status(ops) == {"NL-2": "open"}
    with reading(ops.home) as db:
        for table in ("identifiers", "match_keys", "alerts"):
            left = db.conn.execute(f"SELECT COUNT(*) FROM {table} WHERE case_id = ?", (case_id,)).fetchone()[0]  # noqa: S608
            assert left == 0, table
    [entry] = [e for e in ops_audit.list_entries(ops) if e.event == "case.deleted"]
    assert entry.subject == f"case:{case_id}"
    assert entry.detail == {"actor": ACTOR, "identifiers": 2, "persons": 0, "keys": gone.keys, "alerts": 1}
    written = json.dumps(entry.as_json())
    assert "NL-1" not in written and "1234" not in written and "X1234567" not in written
    assert ops_audit.verify(ops).intact
    with pytest.raises(LocalError, match="no case 'NL-1'"):
        ops_cases.delete(ops, "NL-1")


def test_the_commands_reopen_and_delete(home: Path, tmp_path: Path) -> None:
    ops = _imported(home, tmp_path)
    ops_cases.close(ops, "NL-2")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "node.cli", "--home", str(home), "cases", *args]
        return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False, stdin=subprocess.DEVNULL)

    assert run("reopen", "NL-2").stdout.strip() == "NL-2: reopened"
    refused = run("delete", "NL-2")  # no confirmation on a closed stdin
    assert refused.returncode != 0 and _status(ops) == {"NL-1": "open", "NL-2": "open"}
    done = run("delete", "NL-2", "--yes")
    assert done.returncode == 0, done.stderr
    assert "NL-2: deleted with 1 identifier(s)" in done.stdout
    [actor] = [e.detail["actor"] for e in ops_audit.list_entries(ops) if e.event == "case.deleted"]
    assert str(actor).startswith("cli:")
