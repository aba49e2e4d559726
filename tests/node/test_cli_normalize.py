"""``casebridge normalize`` run as a real process."""

from __future__ import annotations

import json
import subprocess
import sys


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "node.cli", "normalize", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_valid_phone_as_json() -> None:
    done = _run("phone", "06 1234 5678", "--region", "NL", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "type": "phone",
        "canonical": "+31612345678",
        "keys": [{"key_type": "phone", "tier": "strong", "value": "+31612345678"}],
    }


def test_person_table() -> None:
    done = _run("person", "Иван Петров", "--dob", "1990-04-12")
    assert done.returncode == 0, done.stderr
    assert "IVAN PETROV|1990-04-12" in done.stdout
    assert "person-phonetic-dob" in done.stdout


def test_invalid_value_fails_without_echoing_it() -> None:
    done = _run("iban", "NL91ABNA0417164301")
    assert done.returncode == 1
    assert done.stdout == ""
    assert "value:" in done.stderr
    assert "checksum" in done.stderr
    assert "NL91ABNA0417164301" not in done.stderr


def test_missing_country_names_the_field() -> None:
    done = _run("passport", "X1234567")
    assert done.returncode == 1
    assert "country:" in done.stderr
