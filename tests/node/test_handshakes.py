"""Recognising gRPC's reports of refused TLS handshakes (real lines from a serving node's standard error)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from node.core.home import NodeHome
from node.net.handshakes import HandshakeAudit, reason_of
from node.store import reading

NO_CERT = (
    "I1129 17:29:04.785846    3225 ssl_transport_security.cc:2563] Handshake failed with error SSL_ERROR_SSL: "
    "error:100000c0:SSL routines:OPENSSL_internal:PEER_DID_NOT_RETURN_A_CERTIFICATE: Invalid certificate "
    "verification context"
)
NOT_PINNED = (
    "I1129 17:29:04.787665    3227 ssl_transport_security.cc:2563] Handshake failed with error SSL_ERROR_SSL: "
    "error:1000007d:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED: self signed certificate"
)
EXPIRED = (
    "I1202 06:54:00.859850   11152 ssl_transport_security.cc:2563] Handshake failed with error SSL_ERROR_SSL: "
    "error:1000007d:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED: certificate has expired"
)
PLAIN_HTTP = (
    "I1129 17:30:00.000000    3300 ssl_transport_security.cc:2563] Handshake failed with error SSL_ERROR_SSL: "
    "error:1000009c:SSL routines:OPENSSL_internal:HTTP_REQUEST: http request"
)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (NO_CERT, "the caller presented no client certificate"),
        (NOT_PINNED, "the caller's certificate is not pinned here"),
        (EXPIRED, "the caller's certificate is pinned here but has expired"),
        (
            EXPIRED.replace("has expired", "is not yet valid"),
            "the caller's certificate is pinned here but is not valid yet",
        ),
        (PLAIN_HTTP, "the TLS handshake failed (HTTP_REQUEST)"),
        ("Handshake failed with error", "the TLS handshake failed (no reason given)"),
    ],
)
def test_handshake_reports_are_recognised(line: str, reason: str) -> None:
    assert reason_of(line) == reason


@pytest.mark.parametrize(
    "line",
    ["2026-11-29 17:29:11,292 INFO casebridge.server: stopping", "", "E1129 some other gRPC error: UNAVAILABLE"],
)
def test_other_lines_are_not_refusals(line: str) -> None:
    assert reason_of(line) is None


def test_the_tee_stops_while_another_process_holds_stderr(home: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """A child started while the tee runs keeps the pipe open; stop must neither wait for it nor lose a line."""
    tee = HandshakeAudit(NodeHome(home))
    tee.start()
    holder = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        os.write(2, (NO_CERT + "\n").encode())
        tee.stop()
        assert holder.poll() is None  # the pipe's other write end is still open
        assert not tee.is_reading
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)
    assert NO_CERT in capfd.readouterr().err  # passed on unchanged
    with reading(NodeHome(home)) as db:
        rows = [r[0] for r in db.conn.execute("SELECT detail FROM audit WHERE event = 'session.refused'")]
    assert len(rows) == 1 and '"count":1' in rows[0] and "no client certificate" in rows[0]
