"""The two-step follow-up over real nodes: request, owner's decision, signed release.

Analysts act through the real CLI in child processes; the nodes serve in-process over mutual TLS and keep
their state in real SQLite files. Forged releases and requests from the wrong agency are sent with a raw
gRPC client holding a real node certificate, because the CLI never produces them.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from crypto.certificates import load_certificate, load_private_key, sign, verify
from node.disclosure import RELEASE_CONTEXT, build_release
from node.home import NodeHome
from node.net.disclosure_service import DisclosureRpcs
from node.store import open_database
from proto.casebridge.v1 import casebridge_pb2 as pb
from proto.casebridge.v1 import casebridge_pb2_grpc as pb_grpc
from tests.integration.conftest import AGENCIES, CASES, OUTSIDER, Federation

pytestmark = pytest.mark.timeout(180)

NL, DE, RO = AGENCIES
PURPOSE = "joint investigation into labour exploitation"
LEGAL_BASIS = "Regulation (EU) 2016/794 art. 18"


# ------------------------------------------------------------------------------------------ helpers


def query(federation: Federation, code: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(federation.home(code) / "casebridge.db")) as conn:
        return list(conn.execute(sql, params).fetchall())


def alert_id(federation: Federation, code: str, case_ref: str, peer: str) -> int:
    rows = query(
        federation,
        code,
        "SELECT a.id FROM alerts a JOIN cases c ON c.id = a.case_id WHERE c.case_ref = ? AND a.peer = ?",
        case_ref,
        peer,
    )
    assert len(rows) == 1, f"{code} has no single alert for {case_ref} with {peer}: {rows}"
    return int(rows[0][0])


def outgoing(federation: Federation, code: str, alert: int) -> tuple[int, str]:
    """(disclosure id, request id) of our newest request about ``alert``."""
    rows = query(
        federation,
        code,
        "SELECT id, request_id FROM disclosures WHERE direction = 'outgoing' AND alert_id = ? ORDER BY id DESC",
        alert,
    )
    assert rows, f"{code} sent no request about alert {alert}"
    return int(rows[0][0]), str(rows[0][1])


def incoming(federation: Federation, code: str, request_id: str) -> int:
    rows = query(
        federation, code, "SELECT id FROM disclosures WHERE direction = 'incoming' AND request_id = ?", request_id
    )
    assert len(rows) == 1, f"{code} did not store request {request_id}"
    return int(rows[0][0])


def request_args(alert: int, handling: str) -> list[str]:
    return [
        "disclose",
        "request",
        str(alert),
        "--purpose",
        PURPOSE,
        "--legal-basis",
        LEGAL_BASIS,
        "--handling",
        handling,
    ]


def state(federation: Federation, code: str) -> dict[str, list[tuple[Any, ...]]]:
    """What a refused delivery must leave untouched: requests, alerts and their keys."""
    return {
        table: query(federation, code, f"SELECT * FROM {table} ORDER BY 1")  # noqa: S608 (fixed names)
        for table in ("disclosures", "alerts", "alert_keys")
    }


def last_audit(federation: Federation, code: str) -> tuple[str, str | None, dict[str, Any]]:
    event, peer, detail = query(federation, code, "SELECT event, peer, detail FROM audit ORDER BY seq DESC LIMIT 1")[0]
    return str(event), peer, json.loads(detail)


def events(federation: Federation, code: str) -> list[str]:
    return [event for event, _ in federation.audit_events(code)]


async def _raw(federation: Federation, caller: str, target: str, method: str, message: Any) -> Any:
    own = NodeHome(federation.home(caller))
    credentials = grpc.ssl_channel_credentials(
        root_certificates=NodeHome(federation.home(target)).tls_cert.read_bytes(),
        private_key=own.tls_key.read_bytes(),
        certificate_chain=own.tls_cert.read_bytes(),
    )
    async with grpc.aio.secure_channel(f"127.0.0.1:{federation.ports[target]}", credentials) as channel:
        stub = pb_grpc.ExchangeStub(channel)
        return await getattr(stub, method)(message, timeout=10)


def raw_call(federation: Federation, caller: str, target: str, method: str, message: Any) -> tuple[Any, Any]:
    """One unary call from ``caller``'s certificate and key: (status code, reply or error details)."""
    try:
        reply = federation.loop.run(_raw(federation, caller, target, method, message))
    except grpc.aio.AioRpcError as exc:
        return exc.code(), exc.details()
    return grpc.StatusCode.OK, reply


def node_key(federation: Federation, code: str) -> ec.EllipticCurvePrivateKey:
    return load_private_key(NodeHome(federation.home(code)).tls_key.read_bytes())


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


# ------------------------------------------------------------------------------------------ approve


def test_approve_releases_exactly_the_chosen_fields_with_handling_and_safeguarding(federation: Federation) -> None:
    federation.match(NL, RO)
    victim_alert = alert_id(federation, NL, "NL-2026-SWAP", RO)  # RO's matched person is a victim
    suspect_alert = alert_id(federation, NL, "NL-2026-PERSON", RO)  # RO's matched person is a suspect
    federation.cli_parallel([(NL, request_args(victim_alert, "H3")), (NL, request_args(suspect_alert, "H1"))])
    victim_id, victim_request = outgoing(federation, NL, victim_alert)
    suspect_id, suspect_request = outgoing(federation, NL, suspect_alert)
    owner_victim = incoming(federation, RO, victim_request)
    owner_suspect = incoming(federation, RO, suspect_request)

    # The handling code chosen at request time is in the owner's incoming row.
    assert query(federation, RO, "SELECT handling, status FROM disclosures WHERE id = ?", owner_victim) == [
        ("H3", "pending")
    ]
    pending = federation.cli(RO, "disclose", "list", "--json", "--direction", "incoming", "--status", "pending")
    assert {(d["id"], d["handling"], d["peer"]) for d in pending.json()} == {
        (owner_victim, "H3", NL),
        (owner_suspect, "H1", NL),
    }

    federation.cli_parallel(
        [
            (RO, ["disclose", "approve", str(owner_victim), "--fields", "title,persons"]),
            (RO, ["disclose", "approve", str(owner_suspect), "--fields", "title,persons"]),
        ]
    )
    shown, shown_text, alert, other, other_text, other_alert, owner_view = federation.cli_parallel(
        [
            (NL, ["disclose", "show", str(victim_id), "--json"]),
            (NL, ["disclose", "show", str(victim_id)]),
            (NL, ["alerts", "show", str(victim_alert), "--json"]),
            (NL, ["disclose", "show", str(suspect_id), "--json"]),
            (NL, ["disclose", "show", str(suspect_id)]),
            (NL, ["alerts", "show", str(suspect_alert), "--json"]),
            (RO, ["disclose", "show", str(owner_victim), "--json"]),
        ]
    )

    # Exactly the chosen fields (and the owner's case reference), under the requested handling code.
    d = shown.json()
    assert d["status"] == "approved"
    assert d["handling"] == "H3"
    assert d["fields"] == ["title", "persons"]
    assert d["released"] == {
        "case_ref": "RO-2026-SWAP",
        "title": "Victima",
        "persons": [{"name": "Maria Popescu", "dob": "1988-09-05", "role": "victim"}],
    }
    assert d["case_ref"] == "RO-2026-SWAP"
    for withheld in ("Victima raportata disparuta", "DIICOT Constanta"):  # RO's summary and contact
        assert withheld not in shown.stdout
        assert withheld not in shown_text.stdout
    # The safeguarding marker, where the requester looks.
    assert d["safeguarding"] is True and "victim" in d["safeguarding_note"]
    assert "SAFEGUARDING" in shown_text.stdout and "H3" in shown_text.stdout
    assert alert.json()["safeguarding"] is True

    # A release naming only a suspect carries no marker.
    o = other.json()
    assert o["status"] == "approved" and o["handling"] == "H1"
    assert o["released"] == {
        "case_ref": "RO-2026-PERSON",
        "title": "Recrutor",
        "persons": [{"name": "Ivan Petrov", "dob": "1990-04-12", "role": "suspect"}],
    }
    assert o["safeguarding"] is False and o["safeguarding_note"] is None
    assert "SAFEGUARDING" not in other_text.stdout and "H1" in other_text.stdout
    assert other_alert.json()["safeguarding"] is False

    # The owner's view shows what it released, under the same code.
    owner = owner_view.json()
    assert owner["direction"] == "incoming" and owner["status"] == "approved"
    assert owner["handling"] == "H3" and owner["fields"] == ["title", "persons"]
    assert owner["released"] == d["released"] and owner["case_ref"] == "RO-2026-SWAP"
    assert owner["safeguarding"] is True

    # The stored release is the owner's signed message, carrying the handling code and the marker.
    blob, signature = query(federation, NL, "SELECT release, signature FROM disclosures WHERE id = ?", victim_id)[0]
    verify(load_certificate(NodeHome(federation.home(RO)).tls_cert.read_bytes()), RELEASE_CONTEXT, blob, signature)
    release = pb.Release.FromString(blob)
    assert release.handling == pb.HANDLING_H3 and release.safeguarding
    assert release.owner_agency == RO and release.requester_agency == NL
    assert not release.summary and not release.contact

    # Every step on both sides, and both chains intact.
    nl_events, ro_events = events(federation, NL), events(federation, RO)
    assert nl_events.count("disclosure.requested") == 2 and nl_events.count("disclosure.released") == 2
    assert ro_events.count("disclosure.request-received") == 2 and ro_events.count("disclosure.approved") == 2
    nl_audit, ro_audit, nl_verify, ro_verify = federation.cli_parallel(
        [
            (NL, ["audit", "list", "--json"]),
            (RO, ["audit", "list", "--json"]),
            (NL, ["audit", "verify"]),
            (RO, ["audit", "verify"]),
        ]
    )
    released = [e for e in nl_audit.json() if e["event"] == "disclosure.released"]
    assert {(e["peer"], e["detail"]["handling"], e["detail"]["safeguarding"]) for e in released} == {
        (RO, "H3", True),
        (RO, "H1", False),
    }
    approved = [e for e in ro_audit.json() if e["event"] == "disclosure.approved"]
    assert {(e["peer"], e["subject"]) for e in approved} == {
        (NL, f"disclosure:{owner_victim}"),
        (NL, f"disclosure:{owner_suspect}"),
    }
    # The audit log records the steps, never the released content.
    for listing in (nl_audit.stdout, ro_audit.stdout):
        assert "Maria Popescu" not in listing and "RO-2026-SWAP" not in listing and "Victima" not in listing
    assert nl_verify.returncode == 0 and ro_verify.returncode == 0


# ------------------------------------------------------------------------------------------ deny


def test_deny_tells_the_requester_the_reason(federation: Federation) -> None:
    federation.match(NL, DE)
    alert = alert_id(federation, NL, "NL-2026-PHONE", DE)
    federation.cli(NL, *request_args(alert, "H0"))
    ours, request_id = outgoing(federation, NL, alert)
    theirs = incoming(federation, DE, request_id)
    reason = "ongoing covert operation; ask again in June"

    federation.cli(DE, "disclose", "deny", str(theirs), "--reason", reason)
    shown, listed, owner_view, again = federation.cli_parallel(
        [
            (NL, ["disclose", "show", str(ours), "--json"]),
            (NL, ["disclose", "list", "--json", "--status", "denied"]),
            (DE, ["disclose", "show", str(theirs), "--json"]),
            (DE, ["disclose", "approve", str(theirs)]),
        ],
        check=False,
    )
    d = shown.json()
    assert d["status"] == "denied" and d["reason"] == reason and d["handling"] == "H0"
    assert d["released"] is None and d["case_ref"] is None and d["fields"] == []
    assert [(x["id"], x["direction"], x["peer"], x["reason"]) for x in listed.json()] == [
        (ours, "outgoing", DE, reason)
    ]
    assert owner_view.json()["status"] == "denied" and owner_view.json()["reason"] == reason
    # A decision is final: the owner cannot approve what it denied.
    assert again.returncode != 0 and "already denied" in again.stderr

    assert "disclosure.requested" in events(federation, NL) and "disclosure.denied" in events(federation, NL)
    assert "disclosure.request-received" in events(federation, DE) and "disclosure.denied" in events(federation, DE)
    assert "disclosure.released" not in events(federation, NL)
    verified = federation.cli_parallel([(NL, ["audit", "verify"]), (DE, ["audit", "verify"])], check=False)
    assert [r.returncode for r in verified] == [0, 0], [r.stderr for r in verified]


# ------------------------------------------------------------------------------------------ forged releases


def _signed(release: pb.Release, key: ec.EllipticCurvePrivateKey) -> pb.SignedRelease:
    payload = release.SerializeToString()
    return pb.SignedRelease(release=payload, signature=sign(key, RELEASE_CONTEXT, payload))


def _variant(release: pb.Release, **changes: Any) -> pb.Release:
    copy = pb.Release()
    copy.CopyFrom(release)
    for name, value in changes.items():
        if name == "persons":
            del copy.persons[:]
            copy.persons.extend(value)
        elif name == "fields":
            del copy.fields[:]
            copy.fields.extend(value)
        else:
            setattr(copy, name, value)
    return copy


def test_forged_or_altered_releases_are_refused_and_change_nothing(federation: Federation) -> None:
    """NL asked RO about a match; RO's real release would name a victim. DE is a third, pinned agency."""
    federation.match(NL, RO)
    alert = alert_id(federation, NL, "NL-2026-SWAP", RO)
    federation.cli(NL, *request_args(alert, "H2"))
    ours, request_id = outgoing(federation, NL, alert)
    theirs = incoming(federation, RO, request_id)
    genuine = build_release(
        open_database(NodeHome(federation.home(RO))),
        theirs,
        ["title", "summary", "persons"],
        our_agency=RO,
        now=datetime.now(UTC),
    )
    assert genuine.safeguarding  # the release must carry the marker: RO's person is a victim
    ro_key, de_key = node_key(federation, RO), node_key(federation, DE)
    good = _signed(genuine, ro_key)

    flipped = bytearray(good.release)
    at = flipped.index(b"Victima")  # the title's first byte
    flipped[at] ^= 0x01
    bad_signature = bytearray(good.signature)
    bad_signature[-1] ^= 0x01
    invalid, not_found = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND

    cases: list[tuple[str, str, pb.SignedRelease, grpc.StatusCode]] = [
        ("signed with a pinned key that is not the owner's", RO, _signed(genuine, de_key), invalid),
        ("signed with a key nobody pinned", RO, _signed(genuine, ec.generate_private_key(ec.SECP256R1())), invalid),
        (
            "one byte changed after signing",
            RO,
            pb.SignedRelease(release=bytes(flipped), signature=good.signature),
            invalid,
        ),
        (
            "a field changed after signing",
            RO,
            pb.SignedRelease(release=_variant(genuine, contact="x").SerializeToString(), signature=good.signature),
            invalid,
        ),
        (
            "persons dropped after signing",
            RO,
            pb.SignedRelease(
                release=_variant(genuine, persons=[], safeguarding=False).SerializeToString(), signature=good.signature
            ),
            invalid,
        ),
        ("signature changed", RO, pb.SignedRelease(release=good.release, signature=bytes(bad_signature)), invalid),
        ("a third agency's valid signature, naming the owner", DE, _signed(genuine, de_key), invalid),
        ("a third agency in its own name", DE, _signed(_variant(genuine, owner_agency=DE), de_key), not_found),
        ("addressed to another agency", RO, _signed(_variant(genuine, requester_agency=DE), ro_key), invalid),
        (
            "the owner leaves out the safeguarding marker",
            RO,
            _signed(_variant(genuine, safeguarding=False), ro_key),
            invalid,
        ),
        (
            "the owner sends a field it does not list",
            RO,
            _signed(_variant(genuine, fields=["title", "persons"]), ro_key),
            invalid,
        ),
        (
            "the owner changes the handling code",
            RO,
            _signed(_variant(genuine, handling=pb.HANDLING_H0), ro_key),
            invalid,
        ),
        (
            "for a request we never made",
            RO,
            _signed(_variant(genuine, request_id=str(uuid.uuid4())), ro_key),
            not_found,
        ),
    ]
    before = state(federation, NL)
    for what, sender, message, expected in cases:
        code, details = raw_call(federation, sender, NL, "DeliverRelease", message)
        assert code == expected, f"{what}: answered {code} ({details})"
        assert state(federation, NL) == before, f"{what}: the requester's database changed"
        event, peer, detail = last_audit(federation, NL)
        assert (event, peer, detail["status"]) == ("disclosure.release-refused", sender, expected.name), what

    assert query(federation, NL, "SELECT status, release FROM disclosures WHERE id = ?", ours) == [("pending", None)]
    assert query(federation, NL, "SELECT safeguarding FROM alerts WHERE id = ?", alert) == [(0,)]

    # The genuine path still works afterwards, and replaying what was delivered is refused.
    federation.cli(RO, "disclose", "approve", str(theirs), "--fields", "title,persons")
    assert query(federation, NL, "SELECT status FROM disclosures WHERE id = ?", ours) == [("approved",)]
    blob, signature = query(federation, RO, "SELECT release, signature FROM disclosures WHERE id = ?", theirs)[0]
    after = state(federation, NL)
    code, _ = raw_call(federation, RO, NL, "DeliverRelease", pb.SignedRelease(release=blob, signature=signature))
    assert code == invalid and state(federation, NL) == after
    result = federation.cli(NL, "audit", "verify", check=False)
    assert result.returncode == 0, result.stderr


# ------------------------------------------------------------------------------------------ refused requests


def test_request_for_an_alert_we_do_not_hold_is_refused_locally(federation: Federation) -> None:
    federation.match(NL, DE)
    alert = alert_id(federation, NL, "NL-2026-PASS", DE)
    before_de = state(federation, DE), events(federation, DE)
    unknown, _ = federation.cli_parallel(
        [(NL, request_args(9999, "H2")), (NL, ["alerts", "dismiss", str(alert), "--reason", "shared document"])],
        check=False,
    )
    dismissed = federation.cli(NL, *request_args(alert, "H2"), check=False)

    assert unknown.returncode != 0 and "no alert 9999" in unknown.stderr
    assert dismissed.returncode != 0 and "dismissed" in dismissed.stderr
    for result in (unknown, dismissed):
        assert "Traceback" not in result.stderr
    # Nothing was sent: the owner stored nothing and audited nothing; we recorded no request.
    assert (state(federation, DE), events(federation, DE)) == before_de
    assert query(federation, NL, "SELECT COUNT(*) FROM disclosures") == [(0,)]
    assert "disclosure.requested" not in events(federation, NL)


def test_request_from_an_agency_that_is_not_the_match_partner_is_refused(federation: Federation) -> None:
    """RO holds a real NL-DE match handle (as if leaked) and asks DE about it with its own certificate."""
    federation.match(NL, DE)
    handle = bytes(
        query(
            federation,
            DE,
            "SELECT k.match_handle FROM alert_keys k JOIN alerts a ON a.id = k.alert_id WHERE a.peer = ?",
            NL,
        )[0][0]
    )

    def asking(match_handle: bytes) -> pb.DisclosureRequest:
        return pb.DisclosureRequest(
            request_id=str(uuid.uuid4()),
            match_handle=match_handle,
            purpose=PURPOSE,
            legal_basis=LEGAL_BASIS,
            handling=pb.HANDLING_H2,
        )

    before = state(federation, DE)
    code, details = raw_call(federation, RO, DE, "RequestDisclosure", asking(handle))
    assert code == grpc.StatusCode.NOT_FOUND, details
    event, peer, detail = last_audit(federation, DE)
    assert (event, peer, detail["status"]) == ("disclosure.request-refused", RO, "NOT_FOUND")
    # A handle that exists between other agencies gets the very answer a made-up one gets.
    code_made_up, details_made_up = raw_call(federation, RO, DE, "RequestDisclosure", asking(bytes(16)))
    assert (code_made_up, details_made_up) == (code, details)
    assert state(federation, DE) == before

    # The match partner itself is answered (the same handle is real between NL and DE).
    code, ack = raw_call(federation, NL, DE, "RequestDisclosure", asking(handle))
    assert code == grpc.StatusCode.OK and not ack.duplicate

    # An agency nobody pinned does not get past the TLS handshake, so nothing reaches a handler.
    events_before = events(federation, DE)
    code, _ = raw_call(federation, OUTSIDER, DE, "RequestDisclosure", asking(handle))
    assert code == grpc.StatusCode.UNAVAILABLE
    assert events(federation, DE) == events_before


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
