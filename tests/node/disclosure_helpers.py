"""Shared by the disclosure rule tests: two node databases, one requester and one owner, sharing one match.

The ``pair`` fixture is made available to the test modules by ``tests/node/conftest.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlite_utils import Database

from crypto.certificates import create_identity, load_certificate, load_private_key, sign
from node.disclosure import (
    RELEASE_CONTEXT,
    OutgoingRequest,
    accept_release,
    accept_request,
    build_release,
    prepare_request,
    record_outgoing,
)
from node.store import audit as audit
from node.store import open_database, transaction
from proto.casebridge.v1 import casebridge_pb2 as pb

__all__ = [
    "AT",
    "HANDLE",
    "LATER",
    "NOW",
    "OTHER_HANDLE",
    "OWNER",
    "OWNER_CASE",
    "REQUESTER",
    "THIRD",
    "Pair",
    "_events",
    "pair",
]

REQUESTER, OWNER, THIRD = "NL-NP", "DE-BKA", "RO-DIICOT"
AT = "2026-05-01T10:00:00+00:00"
LATER = "2026-05-02T10:00:00+00:00"
NOW = datetime(2026, 5, 2, 10, 0, tzinfo=UTC)
HANDLE = bytes(range(16))
OTHER_HANDLE = bytes(range(16, 32))
OWNER_CASE = {
    "case_ref": "DE-2026-0007",
    "title": "Anwerbung ueber Anzeigen",
    "summary": "Telefonnummer in Kleinanzeigen",
    "contact": "BKA SO 1, +49 611 55 0",
}


def _database(path: Path) -> Database:
    path.parent.mkdir(parents=True, exist_ok=True)
    return open_database(path)


def _add_case(db: Database, case_ref: str, persons: list[tuple[str, str, str]], **text: str) -> int:
    cursor = db.conn.execute(
        "INSERT INTO cases (case_ref, title, summary, contact, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
        (case_ref, text.get("title", "t"), text.get("summary", "s"), text.get("contact", "c"), AT, AT),
    )
    case_id = int(cursor.lastrowid or 0)
    for position, (name, dob, role) in enumerate(persons):
        db.conn.execute(
            "INSERT INTO persons (case_id, position, name, dob, role) VALUES (?, ?, ?, ?, ?)",
            (case_id, position, name, dob, role),
        )
    return case_id


def _add_alert(db: Database, peer: str, case_id: int, keys: list[tuple[str, str, bytes, int]]) -> int:
    """An alert with keys (key_type, tier, match handle, current)."""
    cursor = db.conn.execute(
        "INSERT INTO alerts (peer, case_id, tier, created_at, updated_at, last_matched_at) VALUES (?, ?, ?, ?, ?, ?)",
        (peer, case_id, keys[0][1], AT, AT, AT),
    )
    alert = int(cursor.lastrowid or 0)
    for index, (key_type, tier, handle, current) in enumerate(keys):
        db.conn.execute(
            "INSERT INTO alert_keys (alert_id, key_type, tier, element, match_handle, first_session, last_session,"
            " first_seen, last_seen, current) VALUES (?, ?, ?, ?, ?, 's', 's', ?, ?, ?)",
            (alert, key_type, tier, bytes([index]) * 32, handle, AT, AT, current),
        )
    return alert


@dataclass
class Pair:
    """A requester and an owner that share one match, and the owner's key."""

    requester: Database
    owner: Database
    requester_alert: int
    owner_alert: int
    owner_key: ec.EllipticCurvePrivateKey
    owner_cert: Any
    third_key: ec.EllipticCurvePrivateKey

    def request(self, handling: str = "H2") -> tuple[int, int, OutgoingRequest]:
        """A request sent and stored on both sides: (requester's id, owner's id, request)."""
        outgoing = prepare_request(self.requester, self.requester_alert, "locate victims", "CCP art. 126", handling)
        with transaction(self.owner):
            stored, duplicate = accept_request(self.owner, peer=REQUESTER, request=outgoing.to_wire(), at=AT)
        assert not duplicate
        with transaction(self.requester):
            ours = record_outgoing(self.requester, outgoing, AT, actor="test")
        return ours, stored.id, outgoing

    def release(self, owner_id: int, fields: list[str]) -> tuple[pb.Release, pb.SignedRelease]:
        release = build_release(self.owner, owner_id, fields, our_agency=OWNER, now=NOW)
        payload = release.SerializeToString()
        return release, pb.SignedRelease(release=payload, signature=sign(self.owner_key, RELEASE_CONTEXT, payload))

    def deliver(self, signed: pb.SignedRelease, peer: str = OWNER) -> Any:
        with transaction(self.requester):
            return accept_release(
                self.requester,
                peer=peer,
                peer_certificate=self.owner_cert,
                our_agency=REQUESTER,
                signed=signed,
                at=LATER,
            )


def _identity(agency: str) -> tuple[ec.EllipticCurvePrivateKey, Any]:
    identity = create_identity(agency, ["localhost"], NOW)
    return load_private_key(identity.key_pem), load_certificate(identity.cert_pem)


@pytest.fixture
def pair(tmp_path: Path) -> Pair:
    requester = _database(tmp_path / "nl" / "casebridge.db")
    owner = _database(tmp_path / "de" / "casebridge.db")
    with transaction(requester):
        ours = _add_case(requester, "NL-2026-0042", [("Anna Jansen", "1990-01-01", "witness")])
        requester_alert = _add_alert(
            requester,
            OWNER,
            ours,
            [("person-phonetic-dob", "weak", OTHER_HANDLE, 1), ("phone", "strong", HANDLE, 1)],
        )
    with transaction(owner):
        theirs = _add_case(
            owner,
            OWNER_CASE["case_ref"],
            [("Maria Popescu", "1988-09-05", "victim"), ("John Smyth", "", "suspect")],
            title=OWNER_CASE["title"],
            summary=OWNER_CASE["summary"],
            contact=OWNER_CASE["contact"],
        )
        owner_alert = _add_alert(owner, REQUESTER, theirs, [("phone", "strong", HANDLE, 1)])
    owner_key, owner_cert = _identity(OWNER)
    third_key, _ = _identity(THIRD)
    return Pair(requester, owner, requester_alert, owner_alert, owner_key, owner_cert, third_key)


def _events(db: Database) -> list[str]:
    return [e.event for e in audit.entries(db)]
