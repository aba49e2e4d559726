"""Refusals: each with its status code, an audit entry, and the node serving on."""

from __future__ import annotations

import sqlite3

import grpc
import pytest

from matcher.identifiers import KEY_TYPES
from tests.integration.conftest import OUTSIDER, Federation
from tests.integration.raw import connect, credentials, open_channel, open_frame, raw_match
from tests.waiting import wait_until

pytestmark = pytest.mark.timeout(120)

RESPONDER = "NL-NP"


def _refusals(federation: Federation, code: str) -> list[str | None]:
    return [status for event, status in federation.audit_events(code) if event == "session.refused"]


def _still_serving(federation: Federation) -> None:
    """A normal session with the refusing node completes (from a peer whose policy was not touched)."""
    outcome = federation.match("RO-DIICOT", RESPONDER)
    assert outcome.status == "completed", outcome.error
    assert outcome.intersection == 5


def test_no_or_unknown_client_certificate_fails_the_handshake(federation: Federation) -> None:
    port = federation.ports[RESPONDER]
    target = federation.home(RESPONDER)
    before = federation.audit_events(RESPONDER)

    async def attempt(caller: str | None) -> grpc.StatusCode:
        async with open_channel(port, credentials(target, None if caller is None else federation.home(caller))) as ch:
            return (await raw_match(ch, [open_frame(1)], timeout=5)).code

    # Both fail inside the TLS handshake (the server demands a certificate chaining to a pinned one), so
    # no RPC reaches a handler. This in-process server has no handler-level record of them (the audit log
    # does not move); `casebridge serve` records them from gRPC's handshake reports, tested below.
    assert federation.loop.run(attempt(None)) is grpc.StatusCode.UNAVAILABLE
    assert federation.loop.run(attempt(OUTSIDER)) is grpc.StatusCode.UNAVAILABLE
    assert federation.audit_events(RESPONDER) == before

    # The outsider's own CLI says what went wrong, in words an operator can act on.
    refused = federation.cli(OUTSIDER, "match", RESPONDER, check=False)
    assert refused.returncode == 1
    assert "TLS handshake failed" in refused.stderr
    _still_serving(federation)


def test_removed_peer_is_refused_by_handler_then_by_handshake(federation: Federation) -> None:
    port = federation.ports[RESPONDER]
    creds = credentials(federation.home(RESPONDER), federation.home("DE-BKA"))

    async def scenario() -> tuple[grpc.StatusCode, grpc.StatusCode]:
        async with open_channel(port, creds) as established:
            assert await connect(established)
            # The removal happens while DE-BKA holds a connection that passed the handshake.
            await federation.loop_call(federation.cli, RESPONDER, "peers", "remove", "DE-BKA")
            on_old = await raw_match(established, [open_frame(1)])
        async with open_channel(port, creds) as fresh:
            on_new = await raw_match(fresh, [open_frame(1)], timeout=5)
        return on_old.code, on_new.code

    on_old, on_new = federation.loop.run(scenario(), timeout=60)
    # A call on the connection made before the removal reaches the handler, which reads the current
    # config: PERMISSION_DENIED, audited. A new connection no longer gets through the handshake.
    assert on_old is grpc.StatusCode.PERMISSION_DENIED
    assert on_new is grpc.StatusCode.UNAVAILABLE
    assert _refusals(federation, RESPONDER) == ["PERMISSION_DENIED"]
    refused = [e for e in federation.audit(RESPONDER) if e["event"] == "session.refused"]
    assert refused[0]["peer"] is None  # no peer: the caller's claimed agency is in the reason only
    assert "DE-BKA" in refused[0]["detail"]["reason"]
    _still_serving(federation)


def test_peer_added_while_serving_gets_through_after_other_calls(federation: Federation) -> None:
    """A new pin takes effect for new connections even when a call on an old one read the config first."""
    port = federation.ports[RESPONDER]
    creds = credentials(federation.home(RESPONDER), federation.home("RO-DIICOT"))

    async def scenario() -> None:
        async with open_channel(port, creds) as established:
            assert await connect(established)
            cert = str(federation.home(OUTSIDER) / "tls" / "node.crt")
            address = f"127.0.0.1:{federation.ports.get(OUTSIDER, 9)}"
            await federation.loop_call(
                federation.cli, RESPONDER, "peers", "add", OUTSIDER, "--address", address, "--cert", cert,
                "--types", ",".join(KEY_TYPES),
            )  # fmt: skip
            # An ordinary session on the old connection reads the new config in the handler.
            outcome = await raw_match(established, [open_frame(1)])
            assert outcome.code is grpc.StatusCode.INVALID_ARGUMENT  # it sends no elements: incomplete

    federation.loop.run(scenario(), timeout=60)
    federation.publish_addresses()
    outcome = federation.match(OUTSIDER, RESPONDER)
    assert outcome.status == "completed", outcome.error


@pytest.mark.parametrize(
    ("option", "value", "status"),
    [
        ("--types", "phone,passport", "PERMISSION_DENIED"),
        ("--max-set-size", "3", "RESOURCE_EXHAUSTED"),
        ("--daily-quota", "1500", "RESOURCE_EXHAUSTED"),
        ("--daily-delta-quota", "1500", "RESOURCE_EXHAUSTED"),
    ],
    ids=["key-type-excluded", "set-over-cap", "over-daily-quota", "over-daily-delta-quota"],
)
def test_policy_refusals(federation: Federation, option: str, value: str, status: str) -> None:
    cert = str(federation.home("DE-BKA") / "tls" / "node.crt")
    address = f"127.0.0.1:{federation.ports['DE-BKA']}"
    federation.cli(RESPONDER, "peers", "remove", "DE-BKA")
    types = () if option == "--types" else ("--types", ",".join(KEY_TYPES))
    # Full sessions only for the full quota: a second session would otherwise be a delta, counted apart.
    epoch = ("--epoch", "none") if option == "--daily-quota" else ()
    federation.cli(
        RESPONDER, "peers", "add", "DE-BKA", "--address", address, "--cert", cert, option, value, *types, *epoch
    )
    # Every session counts at least 1000 keys: the first fits in 1500, the second would need 2000.
    if option == "--daily-quota":
        first = federation.cli("DE-BKA", "match", RESPONDER, "--json").json()[0]
        assert first["status"] == "completed", first
        assert first["own_size"] == 8
    if option == "--daily-delta-quota":
        kinds = [federation.cli("DE-BKA", "match", RESPONDER, "--json").json()[0] for _ in range(2)]
        assert [(k["status"], k["kind"]) for k in kinds] == [("completed", "full"), ("completed", "delta")]
    result = federation.cli("DE-BKA", "match", RESPONDER, "--json", check=False)
    assert result.returncode == 1
    outcome = result.json()[0]
    assert outcome["status"] == "failed"
    assert f"{RESPONDER}: {status}:" in outcome["error"]
    assert _refusals(federation, RESPONDER) == [status]
    failed = [s for event, s in federation.audit_events("DE-BKA") if event == "session.failed"]
    assert failed == [status]  # the initiator records the refusal it met, too
    if option not in ("--daily-quota", "--daily-delta-quota"):
        assert not any(a["peer"] == "DE-BKA" for a in federation.alerts(RESPONDER))
    _still_serving(federation)


def test_trusted_certificate_of_a_non_peer_is_refused_by_the_handler(federation: Federation) -> None:
    """The node trusts its own certificate in the handshake (for local health probes); it is no peer."""
    port = federation.ports[RESPONDER]
    creds = credentials(federation.home(RESPONDER), federation.home(RESPONDER))

    async def attempt() -> grpc.StatusCode:
        async with open_channel(port, creds) as channel:
            return (await raw_match(channel, [open_frame(1)])).code

    assert federation.loop.run(attempt()) is grpc.StatusCode.PERMISSION_DENIED
    assert _refusals(federation, RESPONDER) == ["PERMISSION_DENIED"]
    _still_serving(federation)


def test_a_peer_with_another_federation_secret_is_told_so(federation: Federation) -> None:
    """Without this check both sides would complete the session and silently never match anything."""
    port = federation.ports[RESPONDER]
    creds = credentials(federation.home(RESPONDER), federation.home("DE-BKA"))

    async def attempt() -> tuple[grpc.StatusCode, str]:
        async with open_channel(port, creds) as channel:
            outcome = await raw_match(channel, [open_frame(1, secret=b"another federation's secret, 32+")])
            return outcome.code, outcome.details

    code, details = federation.loop.run(attempt())
    assert code is grpc.StatusCode.FAILED_PRECONDITION
    assert "different federation secret" in details
    assert _refusals(federation, RESPONDER) == ["FAILED_PRECONDITION"]
    _still_serving(federation)


def test_a_serving_node_audits_refused_handshakes(idle_federation: Federation) -> None:
    """`casebridge serve` records handshake refusals (no RPC exists for them) as counted audit entries."""
    port = idle_federation.serve_subprocess(RESPONDER)
    target = idle_federation.home(RESPONDER)

    async def attempt(caller: str | None) -> grpc.StatusCode:
        async with open_channel(
            port, credentials(target, None if caller is None else idle_federation.home(caller))
        ) as ch:
            return (await raw_match(ch, [open_frame(1)], timeout=5)).code

    assert idle_federation.loop.run(attempt(None)) is grpc.StatusCode.UNAVAILABLE
    assert idle_federation.loop.run(attempt(OUTSIDER)) is grpc.StatusCode.UNAVAILABLE
    wanted = {"the caller presented no client certificate", "the caller's certificate is not pinned here"}

    def refusals() -> dict[str, int]:
        return {
            detail["reason"]: detail["count"]
            for event, detail in idle_federation.audit_details(RESPONDER)
            if event == "session.refused" and detail.get("stage") == "tls-handshake"
        }

    found = wait_until(lambda: refusals() if set(refusals()) == wanted else {}, 20, "both handshake refusals audited")
    assert set(found) == wanted, found
    assert all(count >= 1 for count in found.values())
    # gRPC's own report still reaches the log, passed through unchanged.
    assert "Handshake failed" in idle_federation.serve_logs[RESPONDER].read_text()
    assert idle_federation.cli(RESPONDER, "audit", "verify").returncode == 0


def test_a_reused_session_id_is_refused_and_cannot_reset_the_quota(federation: Federation) -> None:
    """Session ids are the caller's choice; reusing one must not overwrite the row the quota counts."""
    port = federation.ports[RESPONDER]
    creds = credentials(federation.home(RESPONDER), federation.home("DE-BKA"))
    session_id = bytes(range(16))

    async def attempt() -> tuple[grpc.StatusCode, str]:
        async with open_channel(port, creds) as channel:
            outcome = await raw_match(channel, [open_frame(1, session_id=session_id)], timeout=5)
            return outcome.code, outcome.details

    first, _ = federation.loop.run(attempt())
    assert first is grpc.StatusCode.INVALID_ARGUMENT  # the stream ended before the session was complete
    second, details = federation.loop.run(attempt())
    assert second is grpc.StatusCode.INVALID_ARGUMENT
    assert "reused a session id" in details
    rows = sqlite3.connect(federation.home(RESPONDER) / "casebridge.db").execute(
        "SELECT status, peer_size FROM sessions WHERE session_id = ?", (session_id.hex(),)
    )
    assert rows.fetchall() == [("failed", 1)]  # the first session's row, untouched by the second
    _still_serving(federation)
