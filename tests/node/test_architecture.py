"""Architecture rules the import contracts cannot express: SQL and sqlite3 live in ``node/store`` only."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

NODE = Path(__file__).resolve().parents[2] / "node"
STORE = NODE / "store"

# Upper-case statement shapes, as the project writes its SQL; prose in docstrings is lower case.
_SQL = re.compile(
    r"\bSELECT\b[\s\S]*\bFROM\b|\bINSERT\s+(OR\s+\w+\s+)?INTO\b|\bUPDATE\b[\s\S]*\bSET\b|\bDELETE\s+FROM\b"
    r"|\bCREATE\s+(TABLE|INDEX|UNIQUE\s+INDEX)\b|\bPRAGMA\b"
    # Transaction control opens a statement; "-----BEGIN CERTIFICATE-----" in a PEM sample is not SQL.
    r"|(^|;)\s*(BEGIN|COMMIT|ROLLBACK)\b",
    re.MULTILINE,
)


def _outside_store() -> Iterator[Path]:
    for path in sorted(NODE.rglob("*.py")):
        if STORE not in path.parents:
            yield path


def _text(node: ast.AST) -> str | None:
    """A string constant's text; an f-string's with each placeholder as ``{}`` (``f"SELECT {c} FROM t"``)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(str(v.value) if isinstance(v, ast.Constant) else "{}" for v in node.values)
    return None


def _sql_literals(path: Path) -> Iterator[int]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    lines = {
        n.lineno
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant | ast.JoinedStr) and (text := _text(n)) is not None and _SQL.search(text)
    }
    yield from sorted(lines)


def _imports_sqlite3(path: Path) -> Iterator[int]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "sqlite3" for a in node.names):
            yield node.lineno
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "sqlite3":
            yield node.lineno


def _where(found: list[tuple[Path, int]]) -> str:
    return "\n".join(f"{path.relative_to(NODE.parent)}:{line}" for path, line in found)


def test_no_sql_outside_store() -> None:
    found = [(path, line) for path in _outside_store() for line in _sql_literals(path)]
    assert not found, "SQL outside node/store:\n" + _where(found)


def test_no_sqlite3_outside_store() -> None:
    found = [(path, line) for path in _outside_store() for line in _imports_sqlite3(path)]
    assert not found, "sqlite3 imported outside node/store:\n" + _where(found)


def test_the_scan_sees_sql_and_ignores_prose() -> None:
    assert _SQL.search("SELECT id FROM cases WHERE x = ?")
    assert _SQL.search("INSERT OR IGNORE INTO sessions (a) VALUES (?)")
    assert _SQL.search("UPDATE alerts SET tier = ? WHERE id = ?")
    assert _SQL.search("PRAGMA foreign_keys = ON")
    assert _SQL.search("BEGIN IMMEDIATE")
    assert not _SQL.search("select the cases from the file and update the set of keys")
    assert not _SQL.search("-----BEGIN CERTIFICATE-----")


def test_the_scan_reads_f_strings(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text('column = "x"\n# SELECT a FROM b\nsql = f"SELECT {column} FROM t"\n', encoding="utf-8")
    assert list(_sql_literals(sample)) == [3]


def test_the_import_scan_sees_sqlite3(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import os\nimport sqlite3\nfrom sqlite3 import Connection\n", encoding="utf-8")
    assert list(_imports_sqlite3(sample)) == [2, 3]
