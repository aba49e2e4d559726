"""Every test the documentation names exists.

README.md and docs/ back each promise with the test that checks it, written as `tests/<path>.py`,
`tests/<path>.py::test_name` (a parameter id in brackets allowed), or `::test_name` for another test in the
file named last before it. A renamed or deleted test would leave a promise unchecked; this finds it.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_REFERENCE = re.compile(r"`((?:tests/)?[\w/]*test_\w+\.py)?((?:::test_\w+)(?:\[[^\]`]*\])?)?`")


@cache
def _tests_in(path: Path) -> frozenset[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return frozenset(
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test_")
    )


def _resolve(name: str) -> Path | None:
    if name.startswith("tests/"):
        path = ROOT / name
        return path if path.is_file() else None
    found = sorted((ROOT / "tests").rglob(name.rsplit("/", 1)[-1]))
    return found[0] if len(found) == 1 else None


def _references() -> list[tuple[str, int, str, str | None]]:
    """(document, line, file, test) for every reference; ``test`` None when only the file is named."""
    found = []
    for document in DOCUMENTS:
        last: str | None = None
        for number, line in enumerate(document.read_text(encoding="utf-8").splitlines(), 1):
            for match in _REFERENCE.finditer(line):
                file, test = match.group(1), match.group(2)
                if file is None and test is None:
                    continue
                if file is not None:
                    last = file
                if last is None:
                    found.append((document.name, number, "", test))
                    continue
                name = None if test is None else test[2:].split("[", 1)[0]
                found.append((document.name, number, last, name))
    return found


def test_the_documents_name_tests() -> None:
    references = _references()
    assert sum(1 for _, _, _, test in references if test) >= 90, (
        "the parser finds far fewer named tests than the documents hold"
    )


def test_every_named_test_exists() -> None:
    missing = []
    for document, number, file, test in _references():
        path = _resolve(file) if file else None
        if path is None:
            missing.append(f"{document}:{number}: no test file {file or '(none named before ::' + str(test) + ')'}")
        elif test is not None and test not in _tests_in(path):
            missing.append(f"{document}:{number}: {file} has no {test}")
    assert not missing, "\n".join(missing)
