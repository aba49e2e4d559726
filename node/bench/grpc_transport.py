"""``casebridge bench psi --transport grpc``: two real nodes, each in its own process, over loopback mTLS.

The initiator runs in this process (through :func:`node.net.client.match_peer`, the code behind
``casebridge match``); the responder is a ``casebridge serve`` child process. Both homes are made with the
real ``init`` and ``peers add`` commands. Each node's set goes in as a generated case file (one open case
per phone) through the case import, as an agency's data would. Hashing to the group is also timed on its
own (``hashing_seconds``, the figure the in-memory bench reports too), apart from the import around it.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from crypto import DEFAULT_SUITE
from matcher.psi import Mode
from node.bench.cpu import CpuMeter, peak_memory_mib, reset_peak_memory
from node.bench.limit import limit_seconds
from node.bench.psi import NO_COMPARISON, Compare, PsiBenchResult, Timings, complete_result, make_sets
from node.cases import import_case_file
from node.config.settings import load_config, update_config
from node.core.clock import monotonic
from node.core.errors import LocalError
from node.core.home import NodeHome
from node.core.workers import ParallelCrypto
from node.matching.steps import MIN_CHARGE
from node.net.client import match_peer
from node.net.local import free_ports
from node.net.tls import channel_credentials
from node.store import alerts as alert_store
from node.store import open_database, reading
from node.store.sessions import completed_sessions

__all__ = ["run_grpc_bench"]

INITIATOR = "XA-BENCH"
RESPONDER = "XB-BENCH"
FEDERATION = "bench"
KEY_TYPE = "phone"
GRPC_FRAME_HEADER = 5  # compressed flag + 4-byte length before every message on an HTTP/2 stream
_READY_TIMEOUT_S = 60.0
_STOP_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class _Node:
    code: str
    home: NodeHome
    prefix: str  # case refs are prefix + position in the node's set


def argv_for_subprocess(args: Sequence[str]) -> list[str]:
    # The same interpreter and CLI as this process (node.cli.app is not imported: it imports this module).
    return [sys.executable, "-m", "node.cli", *args]


def _cli(home: Path, *args: str) -> None:
    done = subprocess.run(
        argv_for_subprocess(["--home", str(home), *args]),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise LocalError(f"casebridge {args[0]} failed while setting up the bench: {done.stderr.strip()}")


def _make_nodes(root: Path, size: int, port_a: int, port_b: int) -> tuple[_Node, _Node]:
    a = _Node(INITIATOR, NodeHome(root / "a"), "A-")
    b = _Node(RESPONDER, NodeHome(root / "b"), "B-")
    _cli(a.home.root, "init", "--agency", a.code, "--federation", FEDERATION, "--listen", f"127.0.0.1:{port_a}")
    _cli(
        b.home.root,
        "init",
        "--agency",
        b.code,
        "--federation",
        FEDERATION,
        "--listen",
        f"127.0.0.1:{port_b}",
        "--federation-secret",
        str(a.home.federation_secret),
    )
    # One session's worth of quota; every session counts at least MIN_CHARGE keys.
    quota = max(size, MIN_CHARGE)
    limits = ("--types", KEY_TYPE, "--max-set-size", str(size), "--daily-quota", str(quota))
    for me, peer, port in ((a, b, port_b), (b, a, port_a)):
        _cli(
            me.home.root,
            "peers",
            "add",
            peer.code,
            "--address",
            f"127.0.0.1:{port}",
            "--cert",
            str(peer.home.tls_cert),
            *limits,
        )
        # The bench runs its sessions itself: a serving node must not start rounds of its own.
        update_config(me.home, lambda document: document.update(schedule={"enabled": False}))
    return a, b


def _case_file(node: _Node, phones: Sequence[str], path: Path) -> Path:
    """One open case per phone, in the case file format an agency exports."""
    with path.open("w", encoding="utf-8") as out:
        for i, phone in enumerate(phones):
            case = {
                "case_ref": f"{node.prefix}{i}",
                "title": "bench",
                "identifiers": [{"type": KEY_TYPE, "value": phone}],
            }
            out.write(json.dumps(case) + "\n")
    return path


def _hashing(
    ours: Sequence[str], theirs: Sequence[str], workers: int, secret: bytes
) -> tuple[float, float, list[bytes], list[bytes]]:
    """Wall and CPU seconds to hash both sets to the group, the part of an import that the session's keys
    cost (CPU of this process and its workers), and the elements (for the bare multiplications' floor)."""
    with ParallelCrypto(workers) as parallel:
        parallel.warm_up()
        meter = CpuMeter()
        cpu, started = meter.seconds(), time.perf_counter()
        ours_el = parallel.hash_keys(DEFAULT_SUITE, secret, [(KEY_TYPE, v) for v in ours])
        theirs_el = parallel.hash_keys(DEFAULT_SUITE, secret, [(KEY_TYPE, v) for v in theirs])
        return time.perf_counter() - started, meter.seconds() - cpu, ours_el, theirs_el


def _load(sets: Sequence[tuple[_Node, Sequence[str]]], workers: int, secret: bytes) -> None:
    """Import each node's set through the case import, as an agency loads its cases."""
    for node, phones in sets:
        path = _case_file(node, phones, node.home.root / "bench-cases.jsonl")
        db = open_database(node.home)
        try:
            summary = import_case_file(db, path, "jsonl", suite=DEFAULT_SUITE, secret=secret, workers=workers)
        finally:
            db.close()
            path.unlink()
        if summary.keys != len(phones):
            raise LocalError(f"the bench import made {summary.keys} keys from {len(phones)} phones")


def _serve(node: _Node, port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            argv_for_subprocess(["--home", str(node.home.root), "serve", "--listen", f"127.0.0.1:{port}"]),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


async def _wait_serving(initiator: _Node, server: subprocess.Popen[bytes], log: Path) -> None:
    """Poll the responder's standard health service over mutual TLS until it reports SERVING."""
    config = load_config(initiator.home)
    peer = config.peer(RESPONDER)
    assert peer is not None
    deadline = monotonic() + _READY_TIMEOUT_S
    async with grpc.aio.secure_channel(str(peer.address), channel_credentials(initiator.home, peer)) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            if server.poll() is not None:
                tail = log.read_text(errors="replace")[-2000:]
                raise LocalError(f"the responder node exited with status {server.returncode}: {tail}")
            try:
                reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1.0)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.aio.AioRpcError:
                pass
            if monotonic() > deadline:
                raise LocalError(f"the responder node did not report SERVING within {_READY_TIMEOUT_S:.0f} s")
            await asyncio.sleep(0.05)


def _stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is not None:
        return
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(_STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def _responder_recorded(node: _Node) -> bool:
    with reading(node.home) as db:
        return completed_sessions(db, INITIATOR, "responder") > 0


def _alerted_case_refs(node: _Node, peer: str) -> tuple[set[str], int]:
    """Case refs with an alert for ``peer``, and the number of current matched keys behind them."""
    with reading(node.home) as db:
        return alert_store.alerted_case_refs(db, peer), alert_store.current_key_count(db, peer)


async def _session(initiator: _Node) -> tuple[int, int, str | None, str]:
    """Run the initiator's match; (wire bytes, intersection, error, kind of session)."""
    config = load_config(initiator.home)
    peer = config.peer(RESPONDER)
    assert peer is not None
    wire = 0

    def count(frame_bytes: int) -> None:
        nonlocal wire
        wire += frame_bytes + GRPC_FRAME_HEADER

    outcome = await match_peer(initiator.home, config, peer, Mode.MUTUAL, on_frame=count)
    return wire, outcome.intersection, outcome.error, outcome.kind


def _await_responder_record(responder: _Node, server: subprocess.Popen[bytes]) -> None:
    deadline = monotonic() + _READY_TIMEOUT_S
    while not _responder_recorded(responder):
        if server.poll() is not None:
            raise LocalError("the responder node exited before recording its result")
        if monotonic() > deadline:
            raise LocalError(f"the responder node did not record its result within {_READY_TIMEOUT_S:.0f} s")
        time.sleep(0.01)


def _timed_session(a: _Node, b: _Node, server: subprocess.Popen[bytes]) -> tuple[int, int, float, _Spent]:
    """One session from ``a`` to the serving ``b``, timed until both recorded: (wire, intersection, wall
    seconds, what each node spent)."""
    # The initiator's session runs in this process (the responder, a child of it, is metered apart).
    ours_meter, theirs_meter = CpuMeter(children=False), CpuMeter(server.pid)
    ours_cpu, theirs_cpu = ours_meter.seconds(), theirs_meter.seconds()
    reset_peak_memory()
    reset_peak_memory(server.pid)
    started = time.perf_counter()
    wire, intersection, error, _ = asyncio.run(_session(a))
    if error is not None:
        raise LocalError(f"the bench session failed: {error}")
    # The responder records before it closes the stream, so it is done by now; checked, not assumed, and
    # the check stays inside the timed span.
    _await_responder_record(b, server)
    seconds = time.perf_counter() - started
    spent = _Spent(ours_meter.seconds() - ours_cpu, theirs_meter.seconds() - theirs_cpu,
                   (peak_memory_mib(), peak_memory_mib(server.pid)))  # fmt: skip
    return wire, intersection, seconds, spent


@dataclass(frozen=True)
class _Spent:
    initiator_cpu: float
    responder_cpu: float
    peak_rss_mib: tuple[float, float]


def run_grpc_bench(
    size: int,
    workers: int = 1,
    compare: Compare = NO_COMPARISON,
    progress: Callable[[str], None] = lambda _: None,
) -> PsiBenchResult:
    ours, theirs = make_sets(size)
    shared = set(ours) & set(theirs)
    root = Path(tempfile.mkdtemp(prefix="casebridge-bench-grpc-"))
    server: subprocess.Popen[bytes] | None = None
    try:
        port_a, port_b = free_ports(2)
        progress("creating two node homes (init, peers add)")
        a, b = _make_nodes(root, size, port_a, port_b)
        secret = a.home.read_federation_secret()
        progress(f"hashing 2 x {size} keys to the group")
        hashing, hashing_cpu, ours_el, theirs_el = _hashing(ours, theirs, workers, secret)
        progress("importing both nodes' cases")
        _load(((a, ours), (b, theirs)), workers, secret)

        progress(f"starting the responder node on port {port_b}")
        log = root / "responder.log"
        server = _serve(b, port_b, log)
        asyncio.run(_wait_serving(a, server, log))

        cores = min(2, os.cpu_count() or 1)  # one node, one blinding thread each
        progress(f"timing the session's bare multiplications on {cores} core(s)")
        limit = limit_seconds(ours_el, theirs_el, cores)
        del ours_el, theirs_el  # not held through the session, whose peak memory is measured

        progress(f"running a mutual-reveal session on {size} x {size} keys over gRPC")
        wire, intersection, seconds, spent = _timed_session(a, b, server)
        _stop(server)
        server = None
        timings = Timings(hashing, hashing_cpu, seconds, spent.initiator_cpu, spent.responder_cpu, limit, cores,
                          spent.peak_rss_mib)  # fmt: skip

        refs_a, keys_a = _alerted_case_refs(a, RESPONDER)
        refs_b, keys_b = _alerted_case_refs(b, INITIATOR)
        expected_a = {f"{a.prefix}{i}" for i, v in enumerate(ours) if v in shared}
        expected_b = {f"{b.prefix}{i}" for i, v in enumerate(theirs) if v in shared}
        correct = (
            intersection == len(shared)
            and refs_a == expected_a
            and refs_b == expected_b
            and keys_a == keys_b == len(shared)
        )
    finally:
        if server is not None:
            _stop(server)
        shutil.rmtree(root, ignore_errors=True)

    return complete_result(
        size=size, workers=workers, transport="grpc", ours=ours, theirs=theirs, intersection=len(shared),
        correct=correct, timings=timings, wire=wire, compare=compare, progress=progress,
    )  # fmt: skip
