"""No raw identifier or canonical key value from a case file reaches a log line, stdout or stderr."""

from __future__ import annotations

import contextlib
import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from crypto import DEFAULT_SUITE
from matcher.identifiers import Identifier, InvalidIdentifier, Person, normalize_identifier, normalize_person
from node.cases import CaseFileError, import_case_file
from node.cases.synthetic import synthetic_cases, write_jsonl
from node.core.home import NodeHome
from node.store import open_database

BAD_PHONE = "+31 6 9 87654"


def secrets_of(cases: list[dict[str, Any]]) -> set[str]:
    """Every raw identifier value and every canonical key value the file holds."""
    found: set[str] = set()
    for c in cases:
        for ident in c["identifiers"]:
            found.add(ident["value"])
            with contextlib.suppress(InvalidIdentifier):
                found.update(k.value for k in normalize_identifier(Identifier(**ident)).keys)
        for person in c["persons"]:
            found.update(k.value for k in normalize_person(Person(**person)).keys)
    return {s for s in found if len(s) >= 6}


def run(home: Path, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "node.cli", "--home", str(home), "cases", "import", str(path)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


@pytest.mark.parametrize("broken", [False, True])
def test_import_never_shows_identifier_values(
    home: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, broken: bool
) -> None:
    cases = synthetic_cases(400, seed=5)
    if broken:
        cases[17]["identifiers"].append({"type": "phone", "value": BAD_PHONE})
    path = write_jsonl(cases, tmp_path / "cases.jsonl")
    values = secrets_of(cases) | ({BAD_PHONE} if broken else set())
    assert len(values) > 1000

    caplog.set_level(logging.DEBUG)
    db = open_database(NodeHome(home))
    try:
        secret = NodeHome(home).read_federation_secret()
        if broken:
            with pytest.raises(CaseFileError) as err:
                import_case_file(db, path, "jsonl", suite=DEFAULT_SUITE, secret=secret, workers=1)
            messages = [str(err.value)]
            assert "cases.jsonl:18: identifiers[" in messages[0]
        else:
            summary = import_case_file(db, path, "jsonl", suite=DEFAULT_SUITE, secret=secret, workers=1)
            messages = [json.dumps(summary.as_json())]
    finally:
        db.close()
    done = run(home, path)
    assert (done.returncode == 1) is broken
    captured = "\n".join([*messages, *(r.getMessage() for r in caplog.records), done.stdout, done.stderr])
    leaked = sorted(v for v in values if v in captured)
    assert not leaked, f"{len(leaked)} identifier value(s) appeared in output"
