"""The containers' entry point, run for three agencies on this host (no container engine runs here).

deploy/container-init.sh is what each member of deploy/compose.yaml runs: init (the first member creates the
federation secret, the others wait for it), drop our identity bundle, pin the others', serve. Running the
same script as three processes with their own homes and shared folders checks that logic for real; the
image build itself cannot run on this machine.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from node.net.local import free_port
from tests.waiting import wait_until

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "deploy" / "container-init.sh"
AGENCIES = ("NL-NP", "DE-BKA", "RO-DIICOT")

pytestmark = pytest.mark.timeout(120)


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "node.cli", "--home", str(home), *args],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


@pytest.fixture
def members(tmp_path: Path) -> Iterator[dict[str, tuple[Path, subprocess.Popen[bytes]]]]:
    shared, bundles = tmp_path / "federation", tmp_path / "bundles"
    shared.mkdir()
    bundles.mkdir()
    bin_dir = Path(sys.executable).parent
    running: dict[str, tuple[Path, subprocess.Popen[bytes]]] = {}
    try:
        # Started in reverse order: the others must wait for the first member's secret and for each bundle.
        for code in reversed(AGENCIES):
            port = free_port()
            home = tmp_path / code / "home"
            home.parent.mkdir()
            env = {
                **{k: v for k, v in os.environ.items() if k != "CASEBRIDGE_HOME"},
                "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
                "PYTHONPATH": str(REPO),
                "CASEBRIDGE_HOME": str(home),
                "CASEBRIDGE_AGENCY": code,
                "CASEBRIDGE_FIRST": "1" if code == AGENCIES[0] else "0",
                "CASEBRIDGE_PEERS": " ".join(c for c in AGENCIES if c != code),
                "CASEBRIDGE_LISTEN": f"127.0.0.1:{port}",
                "CASEBRIDGE_ADVERTISE": f"127.0.0.1:{port}",
                "CASEBRIDGE_SHARED": str(shared),
                "CASEBRIDGE_BUNDLES": str(bundles),
                "CASEBRIDGE_WAIT": "60",
            }
            log = (tmp_path / f"{code}.log").open("wb")
            proc = subprocess.Popen(["bash", str(SCRIPT)], env=env, stdout=log, stderr=subprocess.STDOUT)
            running[code] = (home, proc)
        yield running
    finally:
        for _, proc in running.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def test_three_members_set_up_pin_each_other_and_match(
    members: dict[str, tuple[Path, subprocess.Popen[bytes]]], tmp_path: Path
) -> None:
    for code, (home, proc) in members.items():

        def serving(code: str = code, home: Path = home, proc: subprocess.Popen[bytes] = proc) -> bool:
            assert proc.poll() is None, (tmp_path / f"{code}.log").read_text()
            return _cli(home, "health").returncode == 0

        wait_until(serving, 60, f"{code} reporting SERVING", interval=0.3)
    for code, (home, _) in members.items():
        pinned = {p["code"] for p in json.loads(_cli(home, "peers", "list", "--json").stdout)}
        assert pinned == set(AGENCIES) - {code}
    # The shared phone, written differently by each member, matches across all three.
    written = {
        "NL-NP": ("06 1234 5678", "NL"),
        "DE-BKA": ("+31 6 12345678", None),
        "RO-DIICOT": ("0031612345678", "RO"),
    }
    for code, (home, _) in members.items():
        value, region = written[code]
        ident: dict[str, str] = {"type": "phone", "value": value}
        if region:
            ident["region"] = region
        case = {"case_ref": f"{code}-1", "title": "shared phone", "identifiers": [ident]}
        path = tmp_path / f"{code}.jsonl"
        path.write_text(json.dumps(case) + "\n")
        assert _cli(home, "cases", "import", str(path), "--quiet").returncode == 0
    home = members["NL-NP"][0]
    done = _cli(home, "match", "--json")
    assert done.returncode == 0, done.stderr
    assert sorted((o["peer"], o["intersection"]) for o in json.loads(done.stdout)) == [("DE-BKA", 1), ("RO-DIICOT", 1)]
