"""serve and match with --workers spread the blinding over threads and find exactly the same matches."""

from __future__ import annotations

import signal
from pathlib import Path

import grpc
import pytest

from node.cases.synthetic import agency_case_files, write_jsonl
from proto.casebridge.v1 import casebridge_pb2 as pb
from tests.integration.conftest import Federation
from tests.integration.raw import credentials, open_channel, open_frame, raw_match
from tests.waiting import wait_until

pytestmark = pytest.mark.timeout(180)


def test_worker_processes_find_the_same_matches(idle_federation: Federation, tmp_path: Path) -> None:
    fed = idle_federation
    # Several chunks of elements per side, so the pools really share the work.
    files = agency_case_files(("NL-NP", "DE-BKA"), 3000, seed=9, overlap=0.05, pool_size=40)
    for code in ("NL-NP", "DE-BKA"):
        fed.cli(code, "cases", "import", str(write_jsonl(files[code], tmp_path / f"{code}.jsonl")), "--quiet")
    fed.serve_subprocess("DE-BKA", "--workers", "2")
    fed.publish_addresses()

    single = fed.cli("NL-NP", "match", "DE-BKA", "--json").json()[0]
    assert single["status"] == "completed", single["error"]
    assert single["intersection"] > 0
    pooled = fed.cli("NL-NP", "match", "DE-BKA", "--workers", "2", "--json").json()[0]
    assert pooled["status"] == "completed", pooled["error"]
    assert (pooled["intersection"], pooled["new_alerts"], pooled["gone_alerts"]) == (single["intersection"], 0, 0)
    assert fed.cli("NL-NP", "audit", "verify").returncode == 0
    assert fed.cli("DE-BKA", "audit", "verify").returncode == 0


def test_a_bad_element_fails_only_its_session_when_workers_blind(idle_federation: Federation) -> None:
    """The element is checked in a blinding thread; the error must come back intact and leave the node usable."""
    fed = idle_federation
    port = fed.serve_subprocess("NL-NP", "--workers", "2")
    fed.publish_addresses()
    creds = credentials(fed.home("NL-NP"), fed.home("DE-BKA"))

    async def bad() -> grpc.StatusCode:
        async with open_channel(port, creds) as channel:
            frames = [open_frame(1), pb.PsiFrame(elements=pb.Elements(data=b"\xff" * 32))]
            return (await raw_match(channel, frames)).code

    assert fed.loop.run(bad()) is grpc.StatusCode.INVALID_ARGUMENT
    done = fed.cli("DE-BKA", "match", "NL-NP", "--json").json()[0]
    assert done["status"] == "completed", done["error"]
    assert ("session.failed", "INVALID_ARGUMENT") in [
        (e["event"], e["detail"].get("status")) for e in fed.audit("NL-NP")
    ]


def _handshake_refusals(fed: Federation, code: str) -> int:
    return sum(
        int(detail["count"])
        for event, detail in fed.audit_details(code)
        if event == "session.refused" and detail.get("stage") == "tls-handshake"
    )


def test_serve_with_workers_stops_on_sigterm_and_keeps_its_stderr(idle_federation: Federation) -> None:
    """With blinding threads, the stderr tee still sees every refusal and is let go at a prompt stop."""
    fed = idle_federation
    port = fed.serve_subprocess("NL-NP", "--workers", "2")
    health = fed.cli("NL-NP", "health", "--address", f"127.0.0.1:{port}", "--wait", "30", check=False)
    assert (health.returncode, health.stdout.split()[0]) == (0, "SERVING"), health.stdout + health.stderr

    # A refusal provoked after the pool started reaches standard error and the audit log.
    async def without_certificate() -> grpc.StatusCode:
        async with open_channel(port, credentials(fed.home("NL-NP"), None)) as channel:
            return (await raw_match(channel, [open_frame(1)], timeout=5)).code

    assert fed.loop.run(without_certificate()) is grpc.StatusCode.UNAVAILABLE
    log = fed.serve_logs["NL-NP"]
    wait_until(lambda: b"Handshake failed" in log.read_bytes(), 30, "gRPC's handshake report on stderr")
    wait_until(lambda: _handshake_refusals(fed, "NL-NP") >= 1, 30, "the refused handshake in the audit log")

    proc = fed.processes["NL-NP"]
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    text = log.read_text()
    # The last lines, written through the tee as it was taken down, arrived whole.
    assert any(line.endswith(": stopped") for line in text.splitlines()), text
    assert fed.cli("NL-NP", "audit", "verify").returncode == 0
