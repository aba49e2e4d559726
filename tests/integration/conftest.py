"""Real node homes, real servers, real TLS: the fixtures every integration test starts from.

The homes (init, pinning, case import) are built once per test session through the CLI, then copied for
each test, because every CLI call pays the interpreter start-up and a copy costs milliseconds. Servers run
in-process on port 0 on one event loop in a background thread, so tests learn the bound port first and
then write it into the peers' configs; a node can also run as a ``casebridge serve`` subprocess when a
test needs its stderr.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from matcher.identifiers import KEY_TYPES
from matcher.psi import Mode
from node.config.settings import Address, load_config, update_config
from node.core.home import NodeHome
from node.net.client import PeerOutcome, match_peer
from node.net.local import LoopThread, free_port
from node.net.server import RunningServer, create_server
from node.net.tls import ConfigWatch
from tests.integration.raw import use_federation_secret
from tests.waiting import wait_until

__all__ = [
    "AGENCIES",
    "OUTSIDER",
    "CliResult",
    "Federation",
    "LoopThread",
    "cli",
    "cli_parallel",
    "set_schedule",
]

_T = TypeVar("_T")

REPO = Path(__file__).resolve().parents[2]
CASES = Path(__file__).resolve().parent / "cases"
AGENCIES = ("NL-NP", "DE-BKA", "RO-DIICOT")
# In the federation (it holds the secret) but pinned by nobody: the "unknown certificate".
OUTSIDER = "FR-GN"
_CLI_TIMEOUT_S = 60.0
# A deadline, not a wait: a large session on a loaded machine can take well over half a minute.
_MATCH_DEADLINE_S = 120.0
_INIT = ("init", "--agency")


@dataclass(frozen=True)
class CliResult:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "CASEBRIDGE_HOME"}
    env["PYTHONPATH"] = str(REPO)
    env["COLUMNS"] = "200"  # tables printed to a pipe stay on one line per row
    return env


def _argv(home: Path, args: Sequence[str]) -> list[str]:
    return [sys.executable, "-m", "node.cli", "--home", str(home), *args]


def _finish(args: Sequence[str], proc: subprocess.Popen[str], check: bool) -> CliResult:
    try:
        stdout, stderr = proc.communicate(timeout=_CLI_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, stderr = proc.communicate()
        raise AssertionError(f"casebridge {' '.join(args)} did not finish: {stderr}") from None
    result = CliResult(tuple(args), proc.returncode, stdout, stderr)
    if check and result.returncode != 0:
        raise AssertionError(f"casebridge {' '.join(args)} exited {result.returncode}: {stderr}{stdout}")
    return result


def _start(home: Path, args: Sequence[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        _argv(home, args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=_env(),
    )


def spawn_cli(home: Path, *args: str) -> subprocess.Popen[str]:
    """``casebridge --home HOME ARGS`` started in a child process and left running (for tests that kill it)."""
    return _start(home, args)


def cli(home: Path, *args: str, check: bool = True) -> CliResult:
    """Run one ``casebridge --home HOME ARGS`` in a child process, as an operator would."""
    return _finish(args, _start(home, args), check)


def cli_parallel(calls: Sequence[tuple[Path, Sequence[str]]], check: bool = True) -> list[CliResult]:
    """Independent CLI calls at once (each mostly waits on interpreter start-up)."""
    started = [(args, _start(home, args)) for home, args in calls]
    return [_finish(args, proc, check) for args, proc in started]


@dataclass
class Federation:
    """Three pinned nodes (and an outsider) with cases imported, in homes of their own."""

    root: Path
    loop: LoopThread
    ports: dict[str, int] = field(default_factory=dict)
    servers: dict[str, RunningServer] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    serve_logs: dict[str, Path] = field(default_factory=dict)
    transcript: list[CliResult] = field(default_factory=list)

    def home(self, code: str) -> Path:
        return self.root / code

    def cli(self, code: str, *args: str, check: bool = True) -> CliResult:
        result = cli(self.home(code), *args, check=check)
        self.transcript.append(result)
        return result

    def cli_parallel(self, calls: Sequence[tuple[str, Sequence[str]]], check: bool = True) -> list[CliResult]:
        results = cli_parallel([(self.home(code), args) for code, args in calls], check=check)
        self.transcript.extend(results)
        return results

    def alerts(self, code: str) -> list[dict[str, Any]]:
        alerts: list[dict[str, Any]] = self.cli(code, "alerts", "list", "--json").json()
        return alerts

    def audit(self, code: str) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = self.cli(code, "audit", "list", "--json").json()
        return entries

    def audit_events(self, code: str) -> list[tuple[str, Any]]:
        """(event, status) of every entry, read straight from the database (cheaper than the CLI)."""
        with sqlite3.connect(self.home(code) / "casebridge.db") as conn:
            rows = conn.execute("SELECT event, detail FROM audit ORDER BY seq").fetchall()
        return [(event, json.loads(detail).get("status")) for event, detail in rows]

    def audit_details(self, code: str) -> list[tuple[str, dict[str, Any]]]:
        """(event, detail) of every entry, read straight from the database."""
        with closing(sqlite3.connect(self.home(code) / "casebridge.db")) as conn:
            rows = conn.execute("SELECT event, detail FROM audit ORDER BY seq").fetchall()
        return [(event, json.loads(detail)) for event, detail in rows]

    # -- servers ---------------------------------------------------------------------------------------

    def serve_in_process(self, code: str) -> int:
        async def start() -> RunningServer:
            watch = ConfigWatch(NodeHome(self.home(code)))
            return await create_server(watch, Address("127.0.0.1", 0))

        server = self.loop.run(start())
        self.servers[code] = server
        self.ports[code] = server.port
        return server.port

    def serve_subprocess(self, code: str, *extra: str, port: int | None = None) -> int:
        """``casebridge serve`` on ``port`` (a free one if None); returns once it logs that it is serving."""
        port = port or free_port()
        log_path = self.root / f"{code}.serve.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                _argv(self.home(code), ["serve", "--listen", f"127.0.0.1:{port}", "--grace", "1", *extra]),
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=REPO,
                env=_env(),
            )
        self.processes[code] = proc
        self.serve_logs[code] = log_path

        def serving() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"serve for {code} exited: {log_path.read_text()}")
            return b"serving on" in log_path.read_bytes()

        wait_until(serving, 30, f"serve for {code} logging that it serves")
        self.ports[code] = port
        return port

    def publish_addresses(self) -> None:
        """Write every running node's real port into the other nodes' peer entries."""
        for code in (*AGENCIES, OUTSIDER):

            def edit(document: dict[str, Any]) -> None:
                for peer, entry in document.get("peers", {}).items():
                    if peer in self.ports:
                        entry["address"] = f"127.0.0.1:{self.ports[peer]}"

            update_config(NodeHome(self.home(code)), edit)

    def stop_all(self) -> None:
        for server in self.servers.values():
            self.loop.run(server.stop(0.5))
        self.servers.clear()
        for proc in self.processes.values():
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.processes.clear()

    async def loop_call(self, fn: Callable[..., _T], *args: Any) -> _T:
        """Run a blocking helper (a CLI call) from a coroutine on the server loop without stalling it."""
        return await asyncio.to_thread(fn, *args)

    # -- in-process client -------------------------------------------------------------------------------

    def match(self, code: str, peer: str, mode: Mode = Mode.MUTUAL) -> PeerOutcome:
        """One session run by ``code``'s own client code over real gRPC (no interpreter start-up)."""
        return self.start_match(code, peer, mode).result(_MATCH_DEADLINE_S)

    def start_match(self, code: str, peer: str, mode: Mode = Mode.MUTUAL) -> Future[PeerOutcome]:
        """:meth:`match`, started on the server loop; the caller waits on the returned future."""
        home = NodeHome(self.home(code))
        config = load_config(home)
        chosen = config.peer(peer)
        assert chosen is not None, f"{code} has no peer {peer}"
        return asyncio.run_coroutine_threadsafe(match_peer(home, config, chosen, mode), self.loop.loop)


def _build_template(root: Path) -> None:
    first = AGENCIES[0]
    cli(root / first, "init", "--agency", first, "--federation", "eu", "--listen", "127.0.0.1:9")
    secret = str(root / first / "federation.secret")
    cli_parallel(
        [
            (
                root / code,
                [*_INIT, code, "--federation", "eu", "--listen", "127.0.0.1:9", "--federation-secret", secret],
            )
            for code in (*AGENCIES[1:], OUTSIDER)
        ]
    )
    # Each node pins the other two; the outsider pins everybody but nobody pins it.
    for round_ in range(len(AGENCIES)):
        calls: list[tuple[Path, Sequence[str]]] = []
        if round_ < len(AGENCIES) - 1:
            for index, code in enumerate(AGENCIES):
                peer = AGENCIES[(index + 1 + round_) % len(AGENCIES)]
                calls.append((root / code, _pin(root, peer)))
        else:
            calls += [(root / code, ["cases", "import", str(CASES / f"{code}.jsonl")]) for code in AGENCIES]
        calls.append((root / OUTSIDER, _pin(root, AGENCIES[round_])))
        cli_parallel(calls)
    # Tests run their sessions themselves; the ones about scheduled rounds turn them on.
    for code in (*AGENCIES, OUTSIDER):
        set_schedule(root / code, enabled=False)


def set_schedule(home: Path, **schedule: Any) -> None:
    """Set fields of a node's ``[schedule]`` table."""
    update_config(NodeHome(home), lambda document: document.setdefault("schedule", {}).update(schedule))


def _pin(root: Path, peer: str) -> list[str]:
    # Every key type, named: the tests match on medium and weak keys too, which a new peer gets only when
    # the operator names them.
    return ["peers", "add", peer, "--address", "127.0.0.1:9", "--cert", str(root / peer / "tls" / "node.crt"),
            "--types", ",".join(KEY_TYPES)]  # fmt: skip


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("template")
    _build_template(root)
    use_federation_secret(NodeHome(root / AGENCIES[0]).read_federation_secret())
    return root


@pytest.fixture(scope="session")
def loop_thread() -> Iterator[LoopThread]:
    loop = LoopThread()
    yield loop
    loop.close()


@pytest.fixture
def idle_federation(template: Path, tmp_path: Path, loop_thread: LoopThread) -> Iterator[Federation]:
    """The federation's homes, copied for this test, with no server running yet."""
    root = tmp_path / "federation"
    shutil.copytree(template, root)
    federation = Federation(root=root, loop=loop_thread)
    try:
        yield federation
    finally:
        federation.stop_all()


@pytest.fixture
def federation(idle_federation: Federation) -> Federation:
    """All three agencies serving in-process on port 0, each pinned by the other two at its real port."""
    for code in AGENCIES:
        idle_federation.serve_in_process(code)
    idle_federation.publish_addresses()
    return idle_federation
