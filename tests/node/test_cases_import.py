"""Case import, listing and closing, through the real CLI and real SQLite files."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from crypto import DEFAULT_SUITE
from matcher.identifiers import KEY_TYPES
from node.cases.synthetic import synthetic_cases, write_csv, write_jsonl
from node.core.home import NodeHome
from node.matching.elements import load_session_input
from node.store import open_database

ALL_KEY_TYPES = list(KEY_TYPES)


def cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "node.cli", "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def case(ref: str, *identifiers: dict[str, str], persons: list[dict[str, str]] | None = None) -> dict[str, Any]:
    return {
        "case_ref": ref,
        "title": f"Case {ref}",
        "summary": "s",
        "contact": "desk@example.org",
        "opened": "2026-03-01",
        "identifiers": list(identifiers),
        "persons": persons or [],
    }


PHONE_A = {"type": "phone", "value": "06 1234 5678", "region": "NL"}
PHONE_B = {"type": "phone", "value": "+40 721 000 111"}
PASSPORT = {"type": "passport", "value": "X1234567", "country": "ROU"}
PERSON = {"name": "Иван Петров", "dob": "1990-04-12", "role": "victim"}


def write_lines(path: Path, cases: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(c, ensure_ascii=False) + "\n" for c in cases), encoding="utf-8")
    return path


def counts(home: Path) -> dict[str, int]:
    with sqlite3.connect(home / "casebridge.db") as conn:
        return {
            t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]  # noqa: S608
            for t in ("cases", "identifiers", "persons", "match_keys")
        }


def element(home: Path, key_type: str, value: str) -> bytes:
    return DEFAULT_SUITE.hash_keys(NodeHome(home).read_federation_secret(), [(key_type, value)])[0]


def open_set(home: Path) -> set[bytes]:
    db = open_database(NodeHome(home))
    try:
        return set(load_session_input(db, DEFAULT_SUITE.name, ALL_KEY_TYPES).elements)
    finally:
        db.close()


def test_import_jsonl_and_list_json_shape(home: Path, tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "cases.jsonl", [case("NL-1", PHONE_A, PASSPORT, persons=[PERSON]), case("NL-2", PHONE_B)]
    )
    done = cli(home, "cases", "import", str(path))
    assert done.returncode == 0, done.stderr
    assert "2 case(s) added, 0 updated" in done.stdout
    listed = cli(home, "cases", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [r["case_ref"] for r in rows] == ["NL-1", "NL-2"]
    first = rows[0]
    assert set(first) == {
        "case_ref",
        "title",
        "status",
        "opened",
        "identifiers",
        "persons",
        "keys",
        "updated_at",
    }
    assert (first["status"], first["opened"], first["identifiers"], first["persons"]) == (
        "open",
        "2026-03-01",
        2,
        1,
    )
    assert first["keys"] == 2 + 3  # phone, passport, and three person keys
    assert element(home, "phone", "+31612345678") in open_set(home)


def test_import_csv_gives_the_same_keys_as_jsonl(home: Path, tmp_path: Path) -> None:
    cases = synthetic_cases(300, seed=7)
    other = tmp_path / "other"
    other.mkdir()
    (other / "federation.secret").write_text((home / "federation.secret").read_text())
    (other / "casebridge.toml").write_text((home / "casebridge.toml").read_text())
    assert cli(home, "cases", "import", str(write_jsonl(cases, tmp_path / "a.jsonl"))).returncode == 0
    done = cli(other, "cases", "import", str(write_csv(cases, tmp_path / "a.csv")), "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["cases_added"] == 300
    assert open_set(home) == open_set(other)
    assert counts(home) == counts(other)


def test_import_csv_semicolon_and_qualifiers(home: Path, tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text(
        "\ufeffcase_ref;title;opened;phone;passport;social;persons\n"
        'NL-9;Trafficking;2026-01-02;"NL:06 1234 5678; +40 721 000 111";ROU:X1234567;instagram:@Some.One;'
        "Иван Петров|1990-04-12|victim\n",
        encoding="utf-8",
    )
    done = cli(home, "cases", "import", str(path), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["identifiers"] == 4
    assert element(home, "phone", "+31612345678") in open_set(home)
    assert element(home, "social", "instagram:some.one") in open_set(home)


def test_reimport_updates_fields_and_removed_identifiers_stop_matching(home: Path, tmp_path: Path) -> None:
    assert (
        cli(
            home, "cases", "import", str(write_lines(tmp_path / "a.jsonl", [case("NL-1", PHONE_A, PHONE_B)]))
        ).returncode
        == 0
    )
    removed = element(home, "phone", "+40721000111")
    assert removed in open_set(home)
    changed = case("NL-1", PHONE_A)
    changed["title"] = "Renamed"
    done = cli(home, "cases", "import", str(write_lines(tmp_path / "b.jsonl", [changed])))
    assert done.returncode == 0, done.stderr
    assert "0 case(s) added, 1 updated" in done.stdout
    assert removed not in open_set(home)
    assert element(home, "phone", "+31612345678") in open_set(home)
    assert counts(home) == {"cases": 1, "identifiers": 1, "persons": 0, "match_keys": 1}
    rows = json.loads(cli(home, "cases", "list", "--json").stdout)
    assert rows[0]["title"] == "Renamed"


def test_close_excludes_keys_and_unknown_case_is_an_error(home: Path, tmp_path: Path) -> None:
    path = write_lines(tmp_path / "a.jsonl", [case("NL-1", PHONE_A), case("NL-2", PHONE_B)])
    assert cli(home, "cases", "import", str(path)).returncode == 0
    closed = cli(home, "cases", "close", "NL-1")
    assert closed.returncode == 0, closed.stderr
    assert element(home, "phone", "+31612345678") not in open_set(home)
    assert element(home, "phone", "+40721000111") in open_set(home)
    db = open_database(NodeHome(home))
    closed_element = element(home, "phone", "+31612345678")
    assert [r for r in load_session_input(db, DEFAULT_SUITE.name, ["phone"]).rows if r.element == closed_element] == []
    db.close()
    rows = json.loads(cli(home, "cases", "list", "--json", "--status", "closed").stdout)
    assert [r["case_ref"] for r in rows] == ["NL-1"]
    assert cli(home, "cases", "import", str(path)).returncode == 0  # re-import keeps it closed
    assert element(home, "phone", "+31612345678") not in open_set(home)
    missing = cli(home, "cases", "close", "NL-404")
    assert missing.returncode == 1
    assert "no case 'NL-404'" in missing.stderr


def test_import_one_bad_line_among_thousands_imports_nothing(home: Path, tmp_path: Path) -> None:
    first = synthetic_cases(2000, seed=11)
    assert cli(home, "cases", "import", str(write_jsonl(first, tmp_path / "first.jsonl"))).returncode == 0
    before = counts(home)
    second = synthetic_cases(2000, seed=12)
    second[1233]["identifiers"][0] = {"type": "phone", "value": "06 000", "region": "NL"}
    done = cli(home, "cases", "import", str(write_jsonl(second, tmp_path / "cases.jsonl")))
    assert done.returncode == 1
    assert "cases.jsonl:1234: identifiers[0].value: " in done.stderr
    assert "nothing was imported" in done.stderr
    assert "06 000" not in done.stderr + done.stdout
    assert counts(home) == before
    with sqlite3.connect(home / "casebridge.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT COUNT(*) FROM cases WHERE case_ref LIKE 'SYN-%'").fetchone()[0] == 2000


def test_import_unknown_field_is_an_error(home: Path, tmp_path: Path) -> None:
    bad = case("NL-1", PHONE_A)
    bad["priority"] = "high"
    bad["identifiers"][0] = {**PHONE_A, "note": "x"}
    done = cli(home, "cases", "import", str(write_lines(tmp_path / "cases.jsonl", [case("NL-0"), bad])))
    assert done.returncode == 1
    assert "cases.jsonl:2: priority: unknown field" in done.stderr
    assert "cases.jsonl:2: identifiers[0].note: unknown field" in done.stderr
    assert not (home / "casebridge.db").exists() or counts(home)["cases"] == 0


def test_import_unknown_csv_column_is_an_error(home: Path, tmp_path: Path) -> None:
    path = tmp_path / "cases.csv"
    path.write_text("case_ref,title,fax\nNL-1,t,123\n", encoding="utf-8")
    done = cli(home, "cases", "import", str(path))
    assert done.returncode == 1
    assert "cases.csv:1: column fax: unknown column" in done.stderr


def test_import_duplicate_case_ref_names_both_lines(home: Path, tmp_path: Path) -> None:
    path = write_lines(tmp_path / "cases.jsonl", [case("NL-1", PHONE_A), case("NL-2"), case("NL-1", PHONE_B)])
    done = cli(home, "cases", "import", str(path))
    assert done.returncode == 1
    assert "cases.jsonl:3: case_ref: NL-1 already appears on line 1" in done.stderr


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("opened", "2026-02-30", "opened: not a real calendar date"),
        ("title", "", "title: required"),
        ("case_ref", 42, "case_ref: required"),
    ],
)
def test_import_case_field_errors(home: Path, tmp_path: Path, field: str, value: object, message: str) -> None:
    bad = case("NL-1", PHONE_A)
    bad[field] = value
    done = cli(home, "cases", "import", str(write_lines(tmp_path / "cases.jsonl", [bad])))
    assert done.returncode == 1
    assert f"cases.jsonl:1: {message}" in done.stderr


def test_import_help_has_an_example() -> None:
    for args in (["cases", "import"], ["cases", "list"], ["cases", "close"], ["bench", "import"]):
        done = subprocess.run(
            [sys.executable, "-m", "node.cli", *args, "--help"], capture_output=True, text=True, check=False
        )
        assert done.returncode == 0
        assert "Example:" in done.stdout


def test_bench_import_json_shape() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "node.cli", "bench", "import", "--size", "50", "--workers", "1", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert set(result) == {"cases", "identifiers", "keys", "seconds", "identifiers_per_s", "keys_per_s", "workers"}
    assert result["cases"] == 50
    assert result["workers"] == 1
    assert result["keys"] >= result["identifiers"] > 50


def test_an_unknown_x25519_engine_stops_the_command_before_any_work(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CASEBRIDGE_X25519", "fast")
    done = cli(home, "cases", "import", str(write_jsonl(synthetic_cases(5, seed=3), tmp_path / "a.jsonl")))
    assert done.returncode != 0
    assert "CASEBRIDGE_X25519: unknown X25519 engine 'fast'; choose one of crypto_mb, libsodium" in done.stderr
    assert "Traceback" not in done.stderr
    monkeypatch.delenv("CASEBRIDGE_X25519")
    listed = cli(home, "cases", "list", "--json")
    assert listed.returncode == 0 and json.loads(listed.stdout) == []
