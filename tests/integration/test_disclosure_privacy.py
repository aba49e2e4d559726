"""Nothing of the owner's case reaches the requester before the owner approves, on the wire or at rest.

Every disclosure message the nodes' servers receive and send is recorded as it crossed the TLS connection,
and the requester's database files are searched byte for byte.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from node.net.disclosure_service import DisclosureRpcs
from proto.casebridge.v1 import casebridge_pb2 as pb
from tests.integration.conftest import AGENCIES, CASES, Federation
from tests.integration.disclosure_helpers import DE, NL, alert_id, incoming, outgoing, request_args

pytestmark = pytest.mark.timeout(180)


def case_strings(code: str) -> set[str]:
    """Every case reference, title, summary, contact and person name in an agency's case file."""
    found: set[str] = set()
    for line in (CASES / f"{code}.jsonl").read_text(encoding="utf-8").splitlines():
        case = json.loads(line)
        found |= {case["case_ref"], case["title"], case["summary"], case["contact"]}
        found |= {person["name"] for person in case.get("persons", [])}
    return found


def secrets_of(owner: str, requester: str) -> set[str]:
    """The owner's case strings the requester cannot already hold in its own cases."""
    own = (CASES / f"{requester}.jsonl").read_text(encoding="utf-8")
    return {s for s in case_strings(owner) if s not in own}


def database_text(path: Path) -> str:
    """Every value of every table of a SQLite file as text (blobs decoded leniently)."""
    parts: list[str] = []
    with closing(sqlite3.connect(path)) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):  # noqa: S608 (names from sqlite_master)
                for value in row:
                    if isinstance(value, bytes):
                        parts.append(value.decode("utf-8", "replace"))
                    elif value is not None:
                        parts.append(str(value))
    return "\n".join(parts)


def database_bytes(home: Path) -> bytes:
    """The raw database files, including the write-ahead log, so freed pages are searched too."""
    return b"".join(p.read_bytes() for p in sorted(home.glob("casebridge.db*")))


# ------------------------------------------------------------------------------------------ the wire tap


@dataclass(frozen=True)
class WireCall:
    """One disclosure RPC as a node's server handled it: the request it received, the reply it sent."""

    server: Path
    method: str
    request: bytes
    reply: bytes | None


@pytest.fixture
def tapped(idle_federation: Federation, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Federation, list[WireCall]]]:
    """All three nodes serving, with every disclosure message their servers receive and send recorded.

    The real handlers still do all the work; the recorder only copies the serialized messages, which are
    exactly the bytes that crossed the TLS connection.
    """
    calls: list[WireCall] = []
    for name in ("RequestDisclosure", "DeliverRelease", "DeliverDenial"):
        original = getattr(DisclosureRpcs, name)

        async def recorded(
            self: DisclosureRpcs, request: Any, context: Any, _original: Any = original, _name: str = name
        ) -> Any:
            try:
                reply = await _original(self, request, context)
            except BaseException:
                calls.append(WireCall(self.home.root, _name, request.SerializeToString(), None))
                raise
            calls.append(WireCall(self.home.root, _name, request.SerializeToString(), reply.SerializeToString()))
            return reply

        monkeypatch.setattr(DisclosureRpcs, name, recorded)
    for code in AGENCIES:
        idle_federation.serve_in_process(code)
    idle_federation.publish_addresses()
    yield idle_federation, calls


def received_by(federation: Federation, code: str, calls: list[WireCall]) -> list[bytes]:
    """Every message ``code``'s node received: replies to its calls and requests to its server."""
    home = federation.home(code)
    messages = [c.request for c in calls if c.server == home]
    # Replies to calls made by ``code``: RequestDisclosure is only ever called by the requester.
    messages += [c.reply for c in calls if c.server != home and c.method == "RequestDisclosure" and c.reply]
    return messages


# ------------------------------------------------------------------------------------------ nothing before approval


def test_requester_sees_no_case_ref_or_field_before_approval(tapped: tuple[Federation, list[WireCall]]) -> None:
    federation, calls = tapped
    federation.match(NL, DE)
    alert = alert_id(federation, NL, "NL-2026-PHONE", DE)
    federation.cli(NL, *request_args(alert, "H1"))
    ours, request_id = outgoing(federation, NL, alert)
    secrets = secrets_of(DE, NL)
    assert "DE-2026-PHONE" in secrets and "Anwerbung" in secrets

    # The wire: all the requester's node received is the owner's acknowledgement, naming our request id only.
    received = received_by(federation, NL, calls)
    assert len(received) == 1
    ack = pb.DisclosureAck.FromString(received[0])
    assert [f.name for f, _ in ack.ListFields()] == ["request_id"] and ack.request_id == request_id
    # What the owner received names the match handle only, never a case of ours.
    asked = [pb.DisclosureRequest.FromString(c.request) for c in calls if c.method == "RequestDisclosure"]
    assert [a.request_id for a in asked] == [request_id]
    assert not any(s.encode() in calls[0].request for s in case_strings(NL))

    # The requester's database and what its CLI shows hold none of the owner's case data.
    shown, listed, alert_view = federation.cli_parallel(
        [
            (NL, ["disclose", "show", str(ours), "--json"]),
            (NL, ["disclose", "list", "--json"]),
            (NL, ["alerts", "show", str(alert), "--json"]),
        ]
    )
    text = database_text(federation.home(NL) / "casebridge.db")
    raw = database_bytes(federation.home(NL))
    for secret in secrets:
        assert secret not in text, f"{secret!r} is in the requester's database before approval"
        assert secret.encode() not in raw, f"{secret!r} is in the requester's database files before approval"
        for result in (shown, listed, alert_view):
            assert secret not in result.stdout
    assert shown.json()["case_ref"] is None and shown.json()["released"] is None

    # Once approved, the same inspection finds the released fields: it would have seen them earlier.
    federation.cli(DE, "disclose", "approve", str(incoming(federation, DE, request_id)), "--fields", "title")
    assert len(received_by(federation, NL, calls)) == 2
    released = [c.request for c in calls if c.server == federation.home(NL) and c.method == "DeliverRelease"]
    assert len(released) == 1
    body = pb.Release.FromString(pb.SignedRelease.FromString(released[0]).release)
    assert (body.case_ref, body.title, body.summary, body.contact) == ("DE-2026-PHONE", "Anwerbung", "", "")
    text = database_text(federation.home(NL) / "casebridge.db")
    assert "DE-2026-PHONE" in text and "Anwerbung" in text
    assert "Nummer in Anzeigen" not in text and "BKA SO 1" not in text
