"""``casebridge bench psi``: our PSI session against openmined-psi on the same data, in the same run."""

from __future__ import annotations

import json
import os
import random
import subprocess
import tempfile
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from crypto import DEFAULT_SUITE, blinding_engine
from matcher.psi import Message, Mode, PsiSession, Role, State, Tags
from matcher.psi.messages import Elements
from node.bench.cpu import CpuMeter
from node.bench.limit import cpu_model, limit_seconds
from node.core.errors import LocalError
from node.core.workers import ParallelCrypto
from node.net.local import free_ports

__all__ = [
    "NO_COMPARISON",
    "Compare",
    "LibraryRun",
    "PsiBenchResult",
    "Timings",
    "complete_result",
    "make_sets",
    "openmined_run",
    "run_psi_bench",
    "wire_size",
]

OVERLAP = 0.10


@dataclass(frozen=True)
class PsiBenchResult:
    size: int
    workers: int
    transport: str
    # What the row is, for a table: how many cores our side used is part of what was measured.
    label: str
    cpu_model: str
    cpu_count: int
    x25519_engine: str
    correct: bool
    intersection: int
    hashing_seconds: float
    session_seconds: float
    # The session's bare scalar multiplications, timed in the same run with the same engine on
    # ``limit_cores`` cores (node/bench/limit.py), and the session's wall seconds over them.
    limit_seconds: float
    limit_cores: int
    session_over_limit: float
    ours_pairs_per_s: float
    ours_pairs_per_s_with_hashing: float
    wire_bytes_per_pair: float
    # CPU seconds, every process of that part counted (a worker pool, the responder node): wall time does
    # not say how many cores did the work.
    hashing_cpu_seconds: float
    initiator_cpu_seconds: float
    responder_cpu_seconds: float
    ours_cpu_seconds: float  # the three above: all our work, hashing included
    cores_used: float  # both sides' CPU seconds over the session's wall seconds
    # Peak resident memory of each node during the session (gRPC only: in memory both sides share one).
    initiator_peak_rss_mib: float | None
    responder_peak_rss_mib: float | None
    openmined_seconds: float | None
    openmined_cpu_seconds: float | None
    openmined_pairs_per_s: float | None
    openmined_wire_bytes_per_pair: float | None
    # The headline, like for like: openmined-psi's CPU seconds over ours, hashing included on both sides
    # (it hashes inside its session), so one core's work against one core's.
    ratio: float | None
    # Wall seconds, hashing included on both sides: openmined-psi on one core against ours on
    # ``cores_used`` cores, so it flatters every row that uses more than one; ``label`` says how many.
    ratio_wall: float | None
    # SecretFlow's ECDH-PSI on Curve25519 (pip spu, run by node/bench/secretflow_runner.py in an environment
    # of its own): both parties' CPU seconds, hashing inside, and theirs over ours, core for core.
    secretflow_seconds: float | None
    secretflow_cpu_seconds: float | None
    ratio_secretflow: float | None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def phone_number(n: int) -> str:
    return f"+316{1 + n // 10**7}{n % 10**7:07d}"


def make_sets(size: int, seed: int = 7) -> tuple[list[str], list[str]]:
    """Two sets of ``size`` synthetic phone numbers sharing 10 %."""
    rng = random.Random(seed)  # noqa: S311 (synthetic benchmark data, reproducible on purpose)
    # Dutch mobile numbers in the assigned ranges +3161 to +3165, so each one passes the case import's
    # phone normalisation unchanged (already E.164) and the gRPC bench can load them as a case file.
    pool = rng.sample(range(5 * 10**7), 2 * size)
    shared = int(size * OVERLAP)
    ours = [phone_number(n) for n in pool[:size]]
    theirs = ours[:shared] + [phone_number(n) for n in pool[size : 2 * size - shared]]
    rng.shuffle(theirs)
    return ours, theirs


def _varint_len(n: int) -> int:
    return max(1, (n.bit_length() + 6) // 7)


def wire_size(message: Message) -> int:
    """Bytes of one message on a gRPC stream: payload, protobuf field headers, gRPC frame header."""
    # Open / Accept carry a suite name, a mode and sizes: about 48 bytes.
    inner = 1 + _varint_len(len(message.data)) + len(message.data) if isinstance(message, Elements | Tags) else 48
    return 5 + 1 + _varint_len(inner) + inner


def run_in_memory(
    initiator: PsiSession, responder: PsiSession, meter: CpuMeter | None = None
) -> tuple[int, float, float]:
    """Pump messages between two sessions until both finish; returns the bytes that crossed and, with a
    meter, the CPU seconds each side's own steps took (initiator, responder)."""
    queue: deque[tuple[PsiSession, Message]] = deque()
    spent = [0.0, 0.0]

    def step(side: PsiSession, work: Callable[[], Any]) -> Any:
        before = 0.0 if meter is None else meter.seconds()
        out = work()
        if meter is not None:
            spent[side is responder] += meter.seconds() - before
        return out

    step(initiator, initiator.start)
    queue.extend((responder, m) for m in step(initiator, initiator.outbox))
    wire = 0
    released = False
    while queue:
        target, message = queue.popleft()
        wire += wire_size(message)
        step(target, lambda: target.receive(message))  # noqa: B023  (called at once)
        if target is responder and responder.state is State.DONE and not released:
            responder.release_result()  # a node records first; there is nothing to record here
            released = True
        other = initiator if target is responder else responder
        queue.extend((other, m) for m in step(target, target.outbox))
    return wire, spent[0], spent[1]


@dataclass(frozen=True)
class LibraryRun:
    """Another library's run on the same items (openmined-psi, or SecretFlow)."""

    seconds: float
    cpu_seconds: float
    wire_bytes_per_pair: float | None
    found: set[str]  # the items it found in common


@dataclass(frozen=True)
class Compare:
    """What else to run on the same items: openmined-psi in this process, SecretFlow with this interpreter."""

    openmined: bool = False
    secretflow: Path | None = None


NO_COMPARISON = Compare()
SECRETFLOW_TIMEOUT_S = 3600


def secretflow_run(ours: list[str], theirs: list[str], python: Path) -> LibraryRun:
    """SecretFlow's ECDH-PSI on the same items, its two parties in two processes over loopback."""
    runner = Path(__file__).with_name("secretflow_runner.py")
    with tempfile.TemporaryDirectory(prefix="casebridge-bench-secretflow-") as work:
        files = [Path(work) / "ours.txt", Path(work) / "theirs.txt"]
        for items, path in zip((ours, theirs), files, strict=True):
            path.write_text("".join(f"{item}\n" for item in items))
        port_a, port_b = free_ports(2)
        done = subprocess.run(
            [str(python), str(runner), str(files[0]), str(files[1]), str(port_a), str(port_b), work],
            capture_output=True, text=True, timeout=SECRETFLOW_TIMEOUT_S, check=False,
        )  # fmt: skip
    if done.returncode != 0:
        # The runner's own line says which step failed; spu's or Python's last words say why.
        said = (done.stdout.strip().splitlines() or ["no output"])[-1]
        why = (done.stderr.strip().splitlines() or ["nothing on standard error"])[-1]
        raise LocalError(f"the SecretFlow run with {python} failed: {said}; {why}")
    report = json.loads(done.stdout.strip().splitlines()[-1])  # spu logs to standard output before it
    return LibraryRun(report["seconds"], sum(report["cpu_seconds"]), None, set(report["found"]))


def openmined_run(ours: list[str], theirs: list[str]) -> LibraryRun:
    """openmined-psi on the same items, client and server in this process, one after the other."""
    import private_set_intersection.python as omp

    meter = CpuMeter(children=False)
    cpu = meter.seconds()
    started = time.perf_counter()
    client = omp.client.CreateWithNewKey(True)
    server = omp.server.CreateWithNewKey(True)
    setup = server.CreateSetupMessage(1e-9, len(ours), theirs, omp.DataStructure.GCS)
    request = client.CreateRequest(ours)
    response = server.ProcessRequest(request)
    intersection = client.GetIntersection(setup, response)
    seconds = time.perf_counter() - started
    cpu = meter.seconds() - cpu
    wire = sum(len(m.SerializeToString()) for m in (setup, request, response))
    # The client learns positions in its own list: the items themselves are checked, not only their count.
    return LibraryRun(seconds, cpu, wire / max(1, len(ours)), {ours[i] for i in intersection})


@dataclass(frozen=True)
class Timings:
    """What one run of our side took: wall time, the CPU seconds of every process involved, and the bare
    multiplications' floor measured beside it."""

    hashing: float
    hashing_cpu: float
    session: float
    initiator_cpu: float
    responder_cpu: float
    limit: float
    limit_cores: int
    peak_rss_mib: tuple[float, float] | None = None


def run_psi_bench(
    size: int,
    workers: int = 1,
    compare: Compare = NO_COMPARISON,
    progress: Callable[[str], None] = lambda _: None,
) -> PsiBenchResult:
    ours, theirs = make_sets(size)
    expected = set(ours) & set(theirs)
    secret = os.urandom(32)
    suite = DEFAULT_SUITE
    with ParallelCrypto(workers) as parallel:
        parallel.warm_up()
        meter = CpuMeter()  # this process and its workers
        progress(f"hashing 2 x {size} keys to the group")
        cpu, started = meter.seconds(), time.perf_counter()
        ours_el = parallel.hash_keys(suite, secret, [("phone", v) for v in ours])
        theirs_el = parallel.hash_keys(suite, secret, [("phone", v) for v in theirs])
        hashing, hashing_cpu = time.perf_counter() - started, meter.seconds() - cpu

        progress(f"running a mutual-reveal session on {size} x {size} elements")
        blinder = parallel.blinder()
        initiator = PsiSession(role=Role.INITIATOR, suite=suite, elements=ours_el, random_bytes=os.urandom,
                               mode=Mode.MUTUAL, blinder=blinder)  # fmt: skip
        responder = PsiSession(
            role=Role.RESPONDER, suite=suite, elements=theirs_el, random_bytes=os.urandom, blinder=blinder
        )
        started = time.perf_counter()
        wire, initiator_cpu, responder_cpu = run_in_memory(initiator, responder, meter)
        session = time.perf_counter() - started
        progress(f"timing the session's bare multiplications on {workers} core(s)")
        limit = limit_seconds(ours_el, theirs_el, workers)

    assert initiator.result is not None and responder.result is not None
    assert initiator.result.matched is not None and responder.result.matched is not None
    correct = {ours[i] for i in initiator.result.matched} == expected and {
        theirs[i] for i in responder.result.matched
    } == expected

    return complete_result(
        size=size, workers=workers, transport="memory", ours=ours, theirs=theirs, intersection=len(expected),
        correct=correct, wire=wire,
        timings=Timings(hashing, hashing_cpu, session, initiator_cpu, responder_cpu, limit, workers),
        compare=compare, progress=progress,
    )  # fmt: skip


def complete_result(
    *,
    size: int,
    workers: int,
    transport: str,
    ours: list[str],
    theirs: list[str],
    intersection: int,
    correct: bool,
    timings: Timings,
    wire: int,
    compare: Compare,
    progress: Callable[[str], None],
) -> PsiBenchResult:
    """Run openmined-psi and SecretFlow on the same items when asked, and put the figures side by side."""
    om: LibraryRun | None = None
    sf: LibraryRun | None = None
    if compare.openmined:
        progress(f"running openmined-psi on the same {size} x {size} items")
        om = openmined_run(ours, theirs)
        correct = correct and om.found == set(ours) & set(theirs)
    if compare.secretflow is not None:
        progress(f"running SecretFlow's ECDH-PSI on the same {size} x {size} items")
        sf = secretflow_run(ours, theirs, compare.secretflow)
        correct = correct and sf.found == set(ours) & set(theirs)
    t = timings
    rate, rate_hashing = size / t.session, size / (t.session + t.hashing)
    ours_cpu = t.hashing_cpu + t.initiator_cpu + t.responder_cpu
    cores_used = (t.initiator_cpu + t.responder_cpu) / t.session
    return PsiBenchResult(
        size=size, workers=workers, transport=transport, label=_label(transport, workers, cores_used),
        cpu_model=cpu_model(), cpu_count=os.cpu_count() or 1, x25519_engine=blinding_engine(),
        correct=correct, intersection=intersection,
        hashing_seconds=round(t.hashing, 3), session_seconds=round(t.session, 3),
        limit_seconds=round(t.limit, 4), limit_cores=t.limit_cores,
        session_over_limit=round(t.session / t.limit, 2),
        ours_pairs_per_s=round(rate, 1), ours_pairs_per_s_with_hashing=round(rate_hashing, 1),
        wire_bytes_per_pair=round(wire / max(1, size), 2),
        hashing_cpu_seconds=round(t.hashing_cpu, 3), initiator_cpu_seconds=round(t.initiator_cpu, 3),
        responder_cpu_seconds=round(t.responder_cpu, 3), ours_cpu_seconds=round(ours_cpu, 3),
        cores_used=round(cores_used, 2),
        initiator_peak_rss_mib=None if t.peak_rss_mib is None else round(t.peak_rss_mib[0], 1),
        responder_peak_rss_mib=None if t.peak_rss_mib is None else round(t.peak_rss_mib[1], 1),
        openmined_seconds=None if om is None else round(om.seconds, 3),
        openmined_cpu_seconds=None if om is None else round(om.cpu_seconds, 3),
        openmined_pairs_per_s=None if om is None else round(size / om.seconds, 1),
        openmined_wire_bytes_per_pair=None if om is None or om.wire_bytes_per_pair is None
        else round(om.wire_bytes_per_pair, 2),
        ratio=None if om is None or ours_cpu <= 0 else round(om.cpu_seconds / ours_cpu, 2),
        ratio_wall=None if om is None else round(om.seconds / (t.session + t.hashing), 2),
        secretflow_seconds=None if sf is None else round(sf.seconds, 3),
        secretflow_cpu_seconds=None if sf is None else round(sf.cpu_seconds, 3),
        ratio_secretflow=None if sf is None or ours_cpu <= 0 else round(sf.cpu_seconds / ours_cpu, 2),
    )  # fmt: skip


def _label(transport: str, workers: int, cores_used: float) -> str:
    if transport == "grpc":
        return f"two nodes over gRPC, {cores_used:.2f} cores"
    if workers == 1:
        return "one process, one core"
    return f"one process, {workers} blinding threads and hashing processes, {cores_used:.2f} cores"
