"""Listing alerts reads every listed alert's keys in one query, whatever the number of alerts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlite_utils import Database

from node.alerts.book import MatchedKey, get_alert, list_alerts, record_matches
from node.core.home import NodeHome
from node.store import open_database, transaction
from node.store.cases import NewCase, insert_cases

CASES = 12
AT = "2026-12-01T10:00:00+00:00"


@pytest.fixture
def db(home: Path) -> Iterator[Database]:
    db = open_database(NodeHome(home))
    with transaction(db):
        insert_cases(db, [NewCase(i, f"C-{i}", "t", "", "", None, AT, AT) for i in range(1, CASES + 1)])
        matched = [
            MatchedKey(i, key_type, tier, bytes([i, n]) * 16, bytes([n, i]) * 16)
            for i in range(1, CASES + 1)
            for n, (key_type, tier) in enumerate((("phone", "strong"), ("email", "medium"))[: 1 + i % 2])
        ]
        record_matches(db, peer="XB-PEER", session_id="s1", key_types=["phone", "email"], matched=matched, at=AT)
    yield db
    db.close()


def test_list_alerts_reads_the_keys_of_all_alerts_in_one_query(db: Database) -> None:
    statements: list[str] = []
    with db.tracer(lambda sql, params: statements.append(sql)):
        alerts = list_alerts(db)
    assert len(alerts) == CASES
    assert len(statements) == 2  # the alerts, then all of their keys
    for alert in alerts:
        assert alert == get_alert(db, alert.id)
        case = int(alert.case_ref.removeprefix("C-"))
        assert [k.key_type for k in alert.keys] == ["phone", "email"][: 1 + case % 2]
        assert alert.key_type == "phone" and alert.tier == "strong"


def test_filters_apply_to_alerts_and_their_keys_alike(db: Database) -> None:
    assert list_alerts(db, peer="XC-OTHER") == []
    assert [a.id for a in list_alerts(db, status="new", peer="XB-PEER")] == [a.id for a in list_alerts(db)]
    assert list_alerts(db, status="confirmed") == []
