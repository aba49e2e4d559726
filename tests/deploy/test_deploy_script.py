"""deploy/casebridge-deploy.sh end to end: two agencies on loopback, without systemd.

Each agency is installed into its own prefix (a virtual environment taking its dependencies from the one
running the tests, so nothing is downloaded), the bundles are exchanged by running the script again, both
nodes must report SERVING and match each other, and a further run with the same arguments must change
nothing. Every node started here is stopped at the end, also when the test fails.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from node.net.local import free_port
from tests.deploy.wheel import build_wheel
from tests.waiting import holds_within

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "deploy" / "casebridge-deploy.sh"
RUN_TIMEOUT_S = 180

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the deploy script targets Linux"),
    pytest.mark.skipif(sys.prefix == sys.base_prefix, reason="needs a virtual environment to borrow from"),
    pytest.mark.timeout(600),
]


def _environment() -> dict[str, str]:
    # The nodes must run the installed copy, not this working tree.
    return {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV", "CASEBRIDGE_HOME"}}


@dataclass
class Agency:
    code: str
    prefix: Path
    port: int
    extra: list[str] = field(default_factory=list)

    @property
    def home(self) -> Path:
        return self.prefix / "home"

    @property
    def bundle(self) -> Path:
        return self.prefix / f"{self.code}.bundle"

    @property
    def pid_file(self) -> Path:
        return self.prefix / "run" / "casebridge.pid"

    def pid(self) -> int:
        return int(self.pid_file.read_text().strip())

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(self.prefix / "venv" / "bin" / "casebridge"), "--home", str(self.home), *args],
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_S,
            env=_environment(),
            cwd=self.prefix,
        )
        assert done.returncode == 0, f"casebridge {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done


@dataclass
class Deployment:
    root: Path
    wheel: Path
    agencies: list[Agency] = field(default_factory=list)

    def agency(self, code: str, *extra: str) -> Agency:
        agency = Agency(code, self.root / code.lower(), free_port(), list(extra))
        self.agencies.append(agency)
        return agency

    def deploy(self, agency: Agency, *more: str) -> subprocess.CompletedProcess[str]:
        command = [
            "bash",
            str(SCRIPT),
            "--prefix",
            str(agency.prefix),
            "--agency",
            agency.code,
            "--federation",
            "eu-tht",
            "--listen",
            f"127.0.0.1:{agency.port}",
            "--source",
            str(self.wheel),
            "--deps-from",
            sys.prefix,
            "--no-systemd",
            "--wait",
            "30",
            *agency.extra,
            *more,
        ]
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, env=_environment(), cwd=self.root
        )
        assert done.returncode == 0, f"deploy {agency.code} failed:\n{done.stdout}\n{done.stderr}"
        return done

    def stop(self, agency: Agency) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(SCRIPT), "--prefix", str(agency.prefix), "--stop"],
            capture_output=True,
            text=True,
            timeout=60,
            env=_environment(),
        )


def _kill_leftover(agency: Agency) -> None:
    """Stop a node by the pid its deployment recorded, if it still runs."""
    try:
        pid = agency.pid()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return
    if b"serve" not in cmdline:
        return  # the pid was reused by something else
    os.kill(pid, signal.SIGTERM)
    if not holds_within(lambda: not Path(f"/proc/{pid}").exists(), 15, interval=0.2):
        os.kill(pid, signal.SIGKILL)


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    setup = Deployment(tmp_path, build_wheel(REPO, wheels))
    try:
        yield setup
    finally:
        for agency in setup.agencies:
            _kill_leftover(agency)


def _case(ref: str, phone: str, region: str, email: str) -> str:
    return json.dumps(
        {
            "case_ref": ref,
            "title": f"case {ref}",
            "identifiers": [
                {"type": "phone", "value": phone, "region": region},
                {"type": "email", "value": email},
            ],
        }
    )


def _snapshot(agency: Agency) -> dict[str, object]:
    """Everything a rerun must leave alone."""
    identity = json.loads(agency.cli("identity", "--json").stdout)
    return {
        "fingerprint": identity["fingerprint"],
        "pid": agency.pid(),
        "config": (agency.home / "casebridge.toml").read_bytes(),
        "bundle": agency.bundle.read_bytes(),
        "peers": agency.cli("peers", "list", "--json").stdout,
        "venv": (agency.prefix / "venv" / "bin" / "casebridge").stat().st_mtime_ns,
    }


def test_two_agencies_deploy_exchange_bundles_and_match(deployment: Deployment) -> None:
    nl = deployment.agency("NL-NP")
    first = deployment.deploy(nl)
    assert "SERVING" in first.stdout
    secret = nl.home / "federation.secret"
    de = deployment.agency("DE-BKA", "--federation-secret", str(secret))
    deployment.deploy(de, "--peer-bundle", str(nl.bundle), "--types", "phone,email")
    # Second run for NL with DE's bundle: everything but the new peer is already in place.
    rerun = deployment.deploy(nl, "--peer-bundle", str(de.bundle), "--types", "phone,email")
    assert "skip: virtual environment" in rerun.stdout
    assert "skip: node home" in rerun.stdout
    assert "skip: the node is already running" in rerun.stdout
    assert "pinned DE-BKA" in rerun.stdout
    for agency in (nl, de):  # the policy given to the script reached the pin
        assert [p["types"] for p in json.loads(agency.cli("peers", "list", "--json").stdout)] == [["phone", "email"]]

    for agency in (nl, de):
        status = json.loads(agency.cli("health", "--json").stdout)
        assert status["status"] == "SERVING"
        bundle_text = agency.bundle.read_text()
        assert "PRIVATE KEY" not in bundle_text
        assert secret.read_text().strip() not in bundle_text

    cases = deployment.root / "cases"
    cases.mkdir()
    (cases / "nl.jsonl").write_text(_case("NL-2026-0001", "06 1234 5678", "NL", "a@example.nl") + "\n")
    (cases / "de.jsonl").write_text(_case("DE-2026-0001", "+31 6 12345678", "DE", "b@example.de") + "\n")
    nl.cli("cases", "import", str(cases / "nl.jsonl"), "--quiet")
    de.cli("cases", "import", str(cases / "de.jsonl"), "--quiet")
    outcomes = json.loads(nl.cli("match", "DE-BKA", "--json").stdout)
    assert [(o["peer"], o["status"], o["intersection"]) for o in outcomes] == [("DE-BKA", "completed", 1)]
    back = json.loads(de.cli("match", "NL-NP", "--json").stdout)
    assert [(o["peer"], o["status"]) for o in back] == [("NL-NP", "completed")]

    before = {agency.code: _snapshot(agency) for agency in (nl, de)}
    again_nl = deployment.deploy(nl, "--peer-bundle", str(de.bundle), "--types", "phone,email")
    again_de = deployment.deploy(de, "--peer-bundle", str(nl.bundle), "--types", "phone,email")
    assert "DE-BKA is already pinned with this certificate" in again_nl.stdout
    assert "NL-NP is already pinned with this certificate" in again_de.stdout
    for done in (again_nl, again_de):
        assert "starting the node" not in done.stdout
        assert "installing casebridge" not in done.stdout
    assert {agency.code: _snapshot(agency) for agency in (nl, de)} == before

    # An upgrade reinstalls and restarts the running node, so the new code is what serves.
    old_pid = nl.pid()
    upgraded = deployment.deploy(nl, "--upgrade")
    assert "installing casebridge" in upgraded.stdout
    assert "restarting the running node" in upgraded.stdout
    assert nl.pid() != old_pid
    assert not Path(f"/proc/{old_pid}").exists()
    assert json.loads(nl.cli("health", "--json").stdout)["status"] == "SERVING"

    for agency in (nl, de):
        pid = agency.pid()
        stopped = deployment.stop(agency)
        assert stopped.returncode == 0, stopped.stderr
        assert not agency.pid_file.exists()
        assert not Path(f"/proc/{pid}").exists()


def test_a_home_of_another_agency_is_refused(deployment: Deployment) -> None:
    nl = deployment.agency("NL-NP")
    deployment.deploy(nl)
    pid = nl.pid()
    wrong = subprocess.run(
        [
            "bash",
            str(SCRIPT),
            "--prefix",
            str(nl.prefix),
            "--agency",
            "DE-BKA",
            "--federation",
            "eu-tht",
            "--listen",
            f"127.0.0.1:{nl.port}",
            "--source",
            str(deployment.wheel),
            "--deps-from",
            sys.prefix,
            "--no-systemd",
        ],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        env=_environment(),
    )
    assert wrong.returncode != 0
    assert "belongs to agency NL-NP, not DE-BKA" in wrong.stderr
    assert nl.pid() == pid
    assert deployment.stop(nl).returncode == 0


def test_help_lists_every_option() -> None:
    done = subprocess.run(["bash", str(SCRIPT), "--help"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0
    for option in ("--prefix", "--source", "--deps-from", "--peer-bundle", "--types", "--no-systemd", "--stop"):
        assert option in done.stdout
