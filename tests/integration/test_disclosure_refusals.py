"""Deliveries and requests a node refuses: forged or altered releases, and requests it must not answer.

Forged releases and requests from the wrong agency are sent with a raw gRPC client holding a real node
certificate, because the CLI never produces them. A refusal leaves the receiving node's state untouched.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from crypto.certificates import load_private_key, sign
from node.core.home import NodeHome
from node.disclosure import RELEASE_CONTEXT, build_release
from node.store import open_database
from proto.casebridge.v1 import casebridge_pb2 as pb
from proto.casebridge.v1 import casebridge_pb2_grpc as pb_grpc
from tests.integration.conftest import OUTSIDER, Federation
from tests.integration.disclosure_helpers import (
    DE,
    LEGAL_BASIS,
    NL,
    PURPOSE,
    RO,
    alert_id,
    events,
    incoming,
    outgoing,
    query,
    request_args,
)

pytestmark = pytest.mark.timeout(180)


def state(federation: Federation, code: str) -> dict[str, list[tuple[Any, ...]]]:
    """What a refused delivery must leave untouched: requests, alerts and their keys."""
    return {
        table: query(federation, code, f"SELECT * FROM {table} ORDER BY 1")  # noqa: S608 (fixed names)
        for table in ("disclosures", "alerts", "alert_keys")
    }


def last_audit(federation: Federation, code: str) -> tuple[str, str | None, dict[str, Any]]:
    event, peer, detail = query(federation, code, "SELECT event, peer, detail FROM audit ORDER BY seq DESC LIMIT 1")[0]
    return str(event), peer, json.loads(detail)


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

    # The genuine path still works afterwards, and delivering the same release again changes nothing (the
    # owner retries when it is unsure the first delivery arrived).
    federation.cli(RO, "disclose", "approve", str(theirs), "--fields", "title,persons")
    assert query(federation, NL, "SELECT status FROM disclosures WHERE id = ?", ours) == [("approved",)]
    blob, signature = query(federation, RO, "SELECT release, signature FROM disclosures WHERE id = ?", theirs)[0]
    after = state(federation, NL)
    code, _ = raw_call(federation, RO, NL, "DeliverRelease", pb.SignedRelease(release=blob, signature=signature))
    assert code == grpc.StatusCode.OK and state(federation, NL) == after
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
