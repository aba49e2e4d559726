"""Recognising gRPC's reports of refused TLS handshakes (real lines from a serving node's standard error)."""

from __future__ import annotations

import pytest

from node.net.handshakes import reason_of

NO_CERT = (
    "I1129 17:29:04.785846    3225 ssl_transport_security.cc:2563] Handshake failed with error SSL_ERROR_SSL: "
    "error:100000c0:SSL routines:OPENSSL_internal:PEER_DID_NOT_RETURN_A_CERTIFICATE: Invalid certificate "
    "verification context"
)
NOT_PINNED = (
    "I1129 17:29:04.787665    3227 ssl_transport_security.cc:2563] Handshake failed with error SSL_ERROR_SSL: "
    "error:1000007d:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED: self signed certificate"
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
