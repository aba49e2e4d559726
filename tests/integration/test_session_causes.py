"""An initiator's failed session is recorded with its real cause, not the nearest TLS guess."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crypto.certificates import create_identity, fingerprint, load_certificate
from matcher.psi import Mode, PsiSession
from node.config.settings import load_config, update_config
from node.core.home import NodeHome
from node.net.client import match_peer
from tests.integration.conftest import AGENCIES, Federation

pytestmark = pytest.mark.timeout(120)

INITIATOR, PEER = "NL-NP", "DE-BKA"


def _failures(fed: Federation, code: str) -> list[dict[str, Any]]:
    with sqlite3.connect(fed.home(code) / "casebridge.db") as conn:
        rows = conn.execute("SELECT detail FROM audit WHERE event = 'session.failed' ORDER BY seq").fetchall()
    return [json.loads(r[0]) for r in rows]


def test_an_expired_pinned_certificate_is_named(federation: Federation) -> None:
    fed = federation
    expired = create_identity(PEER, ["127.0.0.1"], now=datetime.now(UTC) - timedelta(days=30), validity_days=1)
    home = NodeHome(fed.home(INITIATOR))
    pinned = load_config(home).peer(PEER)
    assert pinned is not None
    pinned.certificate.write_bytes(expired.cert_pem)

    def repin(document: dict[str, Any]) -> None:
        document["peers"][PEER]["fingerprint"] = fingerprint(load_certificate(expired.cert_pem))

    update_config(home, repin)
    outcome = fed.match(INITIATOR, PEER)
    assert outcome.status == "failed"
    assert "expired" in (outcome.error or "") and "TLS" not in (outcome.error or ""), outcome.error
    failure = _failures(fed, INITIATOR)[-1]
    assert failure["status"] == "FAILED_PRECONDITION" and "expired" in failure["reason"]


def test_a_peer_gone_mid_session_is_not_a_tls_problem(idle_federation: Federation) -> None:
    fed = idle_federation
    for code in AGENCIES:
        if code == PEER:
            fed.serve_subprocess(code)
        else:
            fed.serve_in_process(code)
    fed.publish_addresses()
    home = NodeHome(fed.home(INITIATOR))
    config = load_config(home)
    peer = config.peer(PEER)
    assert peer is not None
    responder = fed.processes[PEER]

    def kill_once_answered(session: PsiSession) -> None:
        # The peer's Accept is in: the session is under way when the peer's process dies.
        if session.peer_size >= 0 and responder.poll() is None:
            responder.kill()
            responder.wait()

    outcome = fed.loop.run(match_peer(home, config, peer, Mode.MUTUAL, kill_once_answered), timeout=90)
    assert outcome.status == "failed"
    assert "went away mid-session" in (outcome.error or ""), outcome.error
    assert _failures(fed, INITIATOR)[-1]["status"] == "UNAVAILABLE"
