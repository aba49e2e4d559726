"""A ``match`` killed mid-session does not leave its session 'running' forever."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
from typing import Any

import pytest

from node.config.settings import update_config
from node.core.home import NodeHome
from tests.integration.conftest import REPO, Federation, _argv, _env
from tests.waiting import wait_until

pytestmark = pytest.mark.timeout(120)

INITIATOR, PEER = "NL-NP", "DE-BKA"


def _initiator_rows(fed: Federation) -> list[tuple[str, str, str | None]]:
    with sqlite3.connect(fed.home(INITIATOR) / "casebridge.db") as conn:
        return conn.execute(
            "SELECT session_id, status, reason FROM sessions WHERE role = 'initiator' ORDER BY id"
        ).fetchall()


def _point_at(fed: Federation, port: int) -> None:
    def edit(document: dict[str, Any]) -> None:
        document["peers"][PEER]["address"] = f"127.0.0.1:{port}"

    update_config(NodeHome(fed.home(INITIATOR)), edit)


def test_a_killed_match_is_closed_as_interrupted(idle_federation: Federation) -> None:
    fed = idle_federation
    # A peer that takes the connection and never answers: the session stays open until we kill the match.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        _point_at(fed, silent.getsockname()[1])
        proc = subprocess.Popen(_argv(fed.home(INITIATOR), ["match", PEER]), cwd=REPO, env=_env(),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            rows = wait_until(
                lambda: [r for r in _initiator_rows(fed) if r[1] == "running"], 30, "the session to start"
            )
        finally:
            proc.kill()
            proc.wait()
    orphan = rows[0][0]
    assert [r[1] for r in _initiator_rows(fed) if r[0] == orphan] == ["running"]

    fed.serve_in_process(PEER)
    _point_at(fed, fed.ports[PEER])
    fed.publish_addresses()
    assert fed.cli(INITIATOR, "match", PEER).returncode == 0
    closed = [r for r in _initiator_rows(fed) if r[0] == orphan]
    assert closed[0][1] == "failed" and "interrupted" in (closed[0][2] or "")
    with sqlite3.connect(fed.home(INITIATOR) / "casebridge.db") as conn:
        subjects = [r[0] for r in conn.execute("SELECT subject FROM audit WHERE event = 'session.interrupted'")]
    assert f"session:{orphan}" in subjects
