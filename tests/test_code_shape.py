"""The shape of the code, held by tests: short functions, and one place that reads the clock.

A function longer than :data:`MAX_FUNCTION_LINES` (its ``def`` line to its last line, decorators not counted)
is reported as ``path:line name (N lines)``; nested functions and methods, sync or async, count on their own.
Reading the wall clock or the monotonic clock directly (``datetime.now(``, ``time.time(``, ``time.monotonic(``)
is allowed only in ``node/core/clock.py``, so every other module takes its time from a ``Clock`` and tests can
fix it.

Each top-level package is its own case, so a regression in one package is reported on its own.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAX_FUNCTION_LINES = 60
CLOCK_MODULE = Path("node/core/clock.py")
# (receiver, attribute) pairs of the clock reads; ``datetime.datetime.now`` is caught by its last two names.
CLOCK_READS = {("datetime", "now"), ("time", "time"), ("time", "monotonic")}

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef


def _sources(package: str) -> Iterator[tuple[Path, ast.Module]]:
    """Every module of ``package`` (relative path, parsed tree), in path order."""
    for path in sorted((ROOT / package).rglob("*.py")):
        yield path.relative_to(ROOT), ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def long_functions(tree: ast.Module, path: Path, limit: int = MAX_FUNCTION_LINES) -> list[str]:
    """``path:line name (N lines)`` for each function or method in ``tree`` spanning more than ``limit``."""
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, FunctionNode):
            assert node.end_lineno is not None
            span = node.end_lineno - node.lineno + 1
            if span > limit:
                found.append(f"{path}:{node.lineno} {node.name} ({span} lines)")
    return sorted(found, key=_by_position)


def attribute_calls(tree: ast.Module, path: Path, wanted: set[tuple[str, str]]) -> list[str]:
    """``path:line receiver.attribute(`` for each call in ``tree`` of one of the ``wanted`` pairs."""
    found: list[str] = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        receiver = _last_name(node.func.value)
        if receiver is not None and (receiver, node.func.attr) in wanted:
            found.append(f"{path}:{node.lineno} {receiver}.{node.func.attr}(")
    return sorted(found, key=_by_position)


def clock_reads(tree: ast.Module, path: Path) -> list[str]:
    """Each direct clock read in ``tree``."""
    return attribute_calls(tree, path, CLOCK_READS)


def _last_name(expr: ast.expr) -> str | None:
    """``time`` for ``time``, ``datetime`` for ``datetime.datetime``; None for anything else."""
    if isinstance(expr, ast.Name):
        return expr.id
    if isinstance(expr, ast.Attribute):
        return expr.attr
    return None


def _by_position(entry: str) -> tuple[str, int]:
    location = entry.split(" ", 1)[0]
    path, line = location.rsplit(":", 1)
    return path, int(line)


@pytest.mark.parametrize(
    "package",
    ["crypto", "matcher", "node"],
)
def test_no_function_is_longer_than_the_limit(package: str) -> None:
    found = [entry for path, tree in _sources(package) for entry in long_functions(tree, path)]
    assert not found, f"functions longer than {MAX_FUNCTION_LINES} lines:\n" + "\n".join(found)


@pytest.mark.parametrize(
    "package",
    ["crypto", "matcher", "node"],
)
def test_only_the_clock_module_reads_the_clock(package: str) -> None:
    found = [entry for path, tree in _sources(package) if path != CLOCK_MODULE for entry in clock_reads(tree, path)]
    assert not found, f"clock reads outside {CLOCK_MODULE}:\n" + "\n".join(found)


# Tests wait on a state with a deadline (tests/waiting.py), never on a fixed timer.
SLEEPS = {("time", "sleep"), ("asyncio", "sleep")}
WAITING_MODULE = Path("tests/waiting.py")


def sleeps(tree: ast.Module, path: Path) -> list[str]:
    """Each call of a sleep in ``tree``."""
    return attribute_calls(tree, path, SLEEPS)


def test_tests_wait_on_a_state_never_on_a_timer() -> None:
    found = [entry for path, tree in _sources("tests") if path != WAITING_MODULE for entry in sleeps(tree, path)]
    assert not found, f"fixed sleeps in tests (use {WAITING_MODULE}):\n" + "\n".join(found)
    # The exemption names the module that really holds the waits.
    tree = ast.parse((ROOT / WAITING_MODULE).read_text(encoding="utf-8"))
    assert sleeps(tree, WAITING_MODULE)


def test_the_clock_module_is_where_the_clock_is_read() -> None:
    # If the clock module moved or stopped reading the clock, the exemption above would exempt nothing.
    tree = ast.parse((ROOT / CLOCK_MODULE).read_text(encoding="utf-8"))
    assert clock_reads(tree, CLOCK_MODULE)


_SAMPLE = """
import time
import datetime as dt
from datetime import datetime


@decorated
@twice
def short():
    return time.monotonic()


class Holder:
    async def method(self):
        def inner():
            x = 1
            x = 2
            return x
        return inner()


def tells_time():
    time.time()
    datetime.now()
    dt.datetime.now()
    time.sleep(1)
    now()
"""


def test_the_checks_see_methods_nested_and_async_functions_and_each_clock_read() -> None:
    tree = ast.parse(_SAMPLE)
    path = Path("pkg/mod.py")
    # Decorators do not count: ``short`` is its def line and its body, two lines.
    assert long_functions(tree, path, limit=1) == [
        "pkg/mod.py:9 short (2 lines)",
        "pkg/mod.py:14 method (6 lines)",
        "pkg/mod.py:15 inner (4 lines)",
        "pkg/mod.py:22 tells_time (6 lines)",
    ]
    assert long_functions(tree, path, limit=4) == [
        "pkg/mod.py:14 method (6 lines)",
        "pkg/mod.py:22 tells_time (6 lines)",
    ]
    assert sleeps(tree, path) == ["pkg/mod.py:26 time.sleep("]
    # ``time.sleep`` and a bare ``now()`` are not clock reads; ``dt.datetime.now`` is.
    assert clock_reads(tree, path) == [
        "pkg/mod.py:10 time.monotonic(",
        "pkg/mod.py:23 time.time(",
        "pkg/mod.py:24 datetime.now(",
        "pkg/mod.py:25 datetime.now(",
    ]
