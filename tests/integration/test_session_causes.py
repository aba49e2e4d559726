"""An initiator's failed session is recorded with its real cause, not the nearest TLS guess."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest

from crypto.certificates import NodeIdentity, create_identity, fingerprint, load_certificate
from matcher.psi import Mode, PsiSession
from node.config.settings import load_config, update_config
from node.core.home import NodeHome
from node.net.client import match_peer
from tests.integration.conftest import AGENCIES, Federation
from tests.integration.raw import credentials, open_channel, open_frame, raw_match
from tests.waiting import wait_until

pytestmark = pytest.mark.timeout(120)

INITIATOR, PEER = "NL-NP", "DE-BKA"


def _failures(fed: Federation, code: str) -> list[dict[str, Any]]:
    with sqlite3.connect(fed.home(code) / "casebridge.db") as conn:
        rows = conn.execute("SELECT detail FROM audit WHERE event = 'session.failed' ORDER BY seq").fetchall()
    return [json.loads(r[0]) for r in rows]


def _pin_an_expired_certificate(fed: Federation) -> NodeIdentity:
    """A certificate of PEER's that expired a month ago, pinned (file and fingerprint) at INITIATOR's node."""
    expired = create_identity(PEER, ["127.0.0.1"], now=datetime.now(UTC) - timedelta(days=30), validity_days=1)
    home = NodeHome(fed.home(INITIATOR))
    pinned = load_config(home).peer(PEER)
    assert pinned is not None
    pinned.certificate.write_bytes(expired.cert_pem)

    def repin(document: dict[str, Any]) -> None:
        document["peers"][PEER]["fingerprint"] = fingerprint(load_certificate(expired.cert_pem))

    update_config(home, repin)
    return expired


def test_an_expired_pinned_certificate_is_named(federation: Federation) -> None:
    fed = federation
    _pin_an_expired_certificate(fed)
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
    # Frames already in flight may still bring our last answers out before the loss shows; from then on the
    # responder could have learned the result, so the initiator records a withheld result (ABORTED) with the
    # loss as its cause. Either way the cause named is the peer gone, not TLS.
    with sqlite3.connect(fed.home(INITIATOR) / "casebridge.db") as conn:
        rows = conn.execute(
            "SELECT event, detail FROM audit WHERE event IN ('session.failed', 'session.misbehaved') ORDER BY seq"
        ).fetchall()
    event, detail = rows[-1][0], json.loads(rows[-1][1])
    assert (event, detail["status"]) in {("session.failed", "UNAVAILABLE"), ("session.misbehaved", "ABORTED")}
    assert "went away mid-session" in detail["reason"]


def test_a_caller_presenting_an_expired_pinned_certificate_is_audited_as_expired(
    idle_federation: Federation, tmp_path: Path
) -> None:
    """The responder's record of a refused handshake names the expiry, not "not pinned here"."""
    fed = idle_federation
    expired = _pin_an_expired_certificate(fed)
    caller = tmp_path / "caller"
    (caller / "tls").mkdir(parents=True)
    (caller / "tls" / "node.key").write_bytes(expired.key_pem)
    (caller / "tls" / "node.crt").write_bytes(expired.cert_pem)
    port = fed.serve_subprocess(INITIATOR)

    async def attempt() -> grpc.StatusCode:
        async with open_channel(port, credentials(fed.home(INITIATOR), caller)) as channel:
            return (await raw_match(channel, [open_frame(1)], timeout=10)).code

    assert fed.loop.run(attempt()) is grpc.StatusCode.UNAVAILABLE

    def refusals() -> list[str]:
        return [
            str(detail["reason"])
            for event, detail in fed.audit_details(INITIATOR)
            if event == "session.refused" and detail.get("stage") == "tls-handshake"
        ]

    wait_until(refusals, 30, "the refused handshake in the audit log")
    assert refusals() == ["the caller's certificate is pinned here but has expired"]
