"""Shared by the disclosure tests over real nodes: reading a node's database and asking for a disclosure."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from typing import Any

from tests.integration.conftest import AGENCIES, Federation

__all__ = [
    "DE",
    "LEGAL_BASIS",
    "NL",
    "PURPOSE",
    "RO",
    "alert_id",
    "events",
    "incoming",
    "outgoing",
    "query",
    "request_args",
]

NL, DE, RO = AGENCIES
PURPOSE = "joint investigation into labour exploitation"
LEGAL_BASIS = "Regulation (EU) 2016/794 art. 18"


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


def events(federation: Federation, code: str) -> list[str]:
    return [event for event, _ in federation.audit_events(code)]
