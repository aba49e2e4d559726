"""``casebridge bench incremental``: what a round costs after a change, against a full session.

Two real nodes, as in ``bench psi --transport grpc`` (the initiator in this process through the code
behind ``casebridge match``, the responder a ``casebridge serve`` child, both made with ``init`` and
``peers add``). A full session over SIZE x SIZE keys opens a key epoch; then each side imports NEW x SIZE
new cases (10 % of them shared, and 10 % matching an old key of the other side), and a second session runs
as a delta of the epoch. Both sessions are timed the same way -- from opening the channel until both nodes
recorded their alerts -- between the same two processes on the same cores, so ``ratio`` = delta / full
compares like with like. ``correct`` checks the delta's intersection and both nodes' alerts against a plain
set intersection of the whole current sets.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from node.bench.grpc_transport import (
    INITIATOR,
    RESPONDER,
    _alerted_case_refs,
    _load,
    _make_nodes,
    _Node,
    _serve,
    _session,
    _stop,
    _wait_serving,
)
from node.bench.psi import make_sets, phone_number
from node.core.clock import monotonic
from node.core.errors import LocalError
from node.net.local import free_ports
from node.store import reading
from node.store.sessions import completed_sessions

__all__ = ["IncrementalResult", "run_incremental_bench"]

_RECORD_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class IncrementalResult:
    size: int
    new: float
    new_keys_per_side: int
    full_seconds: float
    delta_seconds: float
    ratio: float
    delta_kind: str
    full_wire_bytes: int
    delta_wire_bytes: int
    intersection: int
    correct: bool
    basis: str = (
        "a full session and then a delta session between the same two nodes (this process and one serve "
        "process) over loopback mutual TLS on the same cores, each timed from opening the channel until both "
        "nodes recorded their alerts; the delta continues the key epoch the full session opened"
    )

    def as_json(self) -> dict[str, object]:
        return dict(self.__dict__)


def _new_sets(ours: Sequence[str], theirs: Sequence[str], count: int, seed: int = 11) -> tuple[list[str], list[str]]:
    """``count`` new phones per side: 10 % shared between the two, 10 % equal to an old phone of the other
    side, the rest new to both."""
    rng = random.Random(seed)  # noqa: S311 (synthetic benchmark data, reproducible on purpose)
    taken = set(ours) | set(theirs)
    fresh: list[str] = []
    while len(fresh) < 2 * count:
        candidate = phone_number(rng.randrange(5 * 10**7))
        if candidate not in taken:
            taken.add(candidate)
            fresh.append(candidate)
    tenth = count // 10
    only_ours = sorted(set(theirs) - set(ours))
    only_theirs = sorted(set(ours) - set(theirs))
    new_ours = fresh[: count - tenth] + rng.sample(only_ours, tenth)
    new_theirs = fresh[:tenth] + fresh[count : 2 * count - 2 * tenth] + rng.sample(only_theirs, tenth)
    return new_ours, new_theirs


def _recorded(node: _Node, sessions: int, server: subprocess.Popen[bytes]) -> None:
    """Wait until the responder has recorded ``sessions`` completed sessions (it does so before it closes the
    stream: checked, not assumed)."""
    deadline = monotonic() + _RECORD_TIMEOUT_S
    while True:
        with reading(node.home) as db:
            if completed_sessions(db, INITIATOR, "responder") >= sessions:
                return
        if server.poll() is not None:
            raise LocalError("the responder node exited before recording its result")
        if monotonic() > deadline:
            raise LocalError(f"the responder node did not record its result within {_RECORD_TIMEOUT_S:.0f} s")
        time.sleep(0.01)


def _timed(a: _Node, b: _Node, server: subprocess.Popen[bytes], sessions: int) -> tuple[float, int, int, str]:
    started = time.perf_counter()
    wire, intersection, error, kind = asyncio.run(_session(a))
    if error is not None:
        raise LocalError(f"the bench session failed: {error}")
    _recorded(b, sessions, server)
    return time.perf_counter() - started, wire, intersection, kind


def run_incremental_bench(
    size: int, new: float, workers: int = 1, progress: Callable[[str], None] = lambda _: None
) -> IncrementalResult:
    ours, theirs = make_sets(size)
    count = max(1, round(size * new))
    new_ours, new_theirs = _new_sets(ours, theirs, count)
    root = Path(tempfile.mkdtemp(prefix="casebridge-bench-incremental-"))
    server: subprocess.Popen[bytes] | None = None
    try:
        port_a, port_b = _ports()
        progress("creating two node homes (init, peers add)")
        a, b = _make_nodes(root, size + 2 * count, port_a, port_b)
        secret = a.home.read_federation_secret()
        progress("importing both nodes' cases")
        _load(((a, ours), (b, theirs)), workers, secret)
        log = root / "responder.log"
        server = _serve(b, port_b, log)
        asyncio.run(_wait_serving(a, server, log))

        progress(f"full session on {size} x {size} keys over gRPC")
        full_s, full_wire, _, _ = _timed(a, b, server, 1)
        progress(f"importing {count} new cases on each side")
        _load(((_later(a, size), new_ours), (_later(b, size), new_theirs)), workers, secret)
        progress("delta session over gRPC")
        delta_s, delta_wire, intersection, kind = _timed(a, b, server, 2)
        _stop(server)
        server = None
        correct = _check(a, b, (ours, new_ours, theirs, new_theirs), size, intersection) and kind == "delta"
    finally:
        if server is not None:
            _stop(server)
        shutil.rmtree(root, ignore_errors=True)
    return IncrementalResult(
        size=size, new=new, new_keys_per_side=count, full_seconds=round(full_s, 3), delta_seconds=round(delta_s, 3),
        ratio=round(delta_s / full_s, 4), delta_kind=kind, full_wire_bytes=full_wire, delta_wire_bytes=delta_wire,
        intersection=intersection, correct=correct,
    )  # fmt: skip


def _ports() -> tuple[int, int]:
    first, second = free_ports(2)
    return first, second


def _later(node: _Node, size: int) -> _Node:
    """The node, naming its new cases after its first ``size`` (case refs stay unique)."""
    return _Node(node.code, node.home, f"{node.prefix}{size}-")


def _check(a: _Node, b: _Node, sets: tuple[Sequence[str], ...], size: int, intersection: int) -> bool:
    """The delta's count and both nodes' alerts against a plain intersection of the whole current sets."""
    ours, new_ours, theirs, new_theirs = sets
    shared = set(ours) & set(theirs) | (set(new_ours) | set(ours)) & (set(new_theirs) | set(theirs))
    refs_a, keys_a = _alerted_case_refs(a, RESPONDER)
    refs_b, keys_b = _alerted_case_refs(b, INITIATOR)
    return (
        intersection == len(shared)
        and keys_a == keys_b == len(shared)
        and refs_a == _refs(a, ours, new_ours, shared, size)
        and refs_b == _refs(b, theirs, new_theirs, shared, size)
    )


def _refs(node: _Node, first: Sequence[str], later: Sequence[str], shared: set[str], size: int) -> set[str]:
    """The case refs the bench gave the values in ``shared``: the first set's, then the new ones'."""
    refs = {f"{node.prefix}{i}" for i, value in enumerate(first) if value in shared}
    refs.update(f"{_later(node, size).prefix}{i}" for i, value in enumerate(later) if value in shared)
    return refs
