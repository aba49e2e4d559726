"""Every command of ``casebridge`` shows an example in its ``--help`` and is documented by its full name."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from node.cli import main

REPO = Path(__file__).resolve().parents[2]


def _walk(command: click.Command, path: tuple[str, ...]) -> list[tuple[tuple[str, ...], click.Command]]:
    found = [(path, command)]
    if isinstance(command, click.Group):
        for name in sorted(command.commands):
            found += _walk(command.commands[name], (*path, name))
    return found


COMMANDS = _walk(main, ())
IDS = ["casebridge " + " ".join(path) if path else "casebridge" for path, _ in COMMANDS]


def _full_name(path: tuple[str, ...]) -> str:
    return " ".join(("casebridge", *path))


def _example_lines(help_text: str) -> list[str]:
    """The lines of the ``Example:`` block of a rendered ``--help``, stripped."""
    lines = help_text.splitlines()
    for i, line in enumerate(lines):
        if line.strip() in ("Example:", "Examples:"):
            block = []
            for following in lines[i + 1 :]:
                if not following.strip():
                    break
                block.append(following.strip())
            return block
    return []


def _invokes(line: str, path: tuple[str, ...]) -> bool:
    """Whether an example line runs this command (``--home DIR`` may come before the subcommand)."""
    words = r"\s+".join(re.escape(word) for word in path)
    pattern = r"casebridge(\s+--home\s+\S+)?" + (r"\s+" + words if path else "") + r"(?![\w-])"
    return re.match(pattern, line) is not None


def _documentation() -> str:
    texts = [(REPO / "README.md").read_text(encoding="utf-8")]
    texts += [p.read_text(encoding="utf-8") for p in sorted((REPO / "docs").rglob("*.md"))]
    return "\n".join(texts)


def test_the_tree_is_walked() -> None:
    names = set(IDS)
    assert {"casebridge", "casebridge disclose approve", "casebridge audit verify", "casebridge serve"} <= names
    assert len(names) == len(IDS)


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_help_has_an_example_block(path: tuple[str, ...], command: click.Command) -> None:
    # Click rewraps a paragraph unless it starts with \b; without it the example lines would run together.
    assert re.search(r"\x08\s*\n\s*Examples?:", command.help or ""), f"{_full_name(path)}: no \\b Example: block"
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0, result.output
    examples = _example_lines(result.output)
    assert examples, f"{_full_name(path)} --help shows no example"
    assert any(_invokes(line, path) for line in examples), (
        f"{_full_name(path)} --help: no example line runs {_full_name(path)}: {examples}"
    )


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_documented_by_full_name(path: tuple[str, ...], command: click.Command) -> None:
    name = _full_name(path)
    assert re.search(re.escape(name) + r"(?![\w-])", _documentation()), (
        f"'{name}' appears neither in README.md nor in docs/"
    )


def test_help_of_the_installed_entry_point() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "node.cli", "disclose", "approve", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert any(_invokes(line, ("disclose", "approve")) for line in _example_lines(done.stdout))
