"""Retention over real nodes: ``casebridge purge`` removes what is past ``retention_days`` and nothing else.

The rows come from real sessions and a real disclosure round between the nodes; only their timestamps are
moved into the past in SQLite, since waiting out a retention period is not an option.
"""

from __future__ import annotations

import functools
import getpass
import json
import logging
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from node.config.settings import update_config
from node.core.home import NodeHome
from node.net.tls import ConfigWatch
from node.ops import Operations
from node.ops.periodic import Periodic
from node.ops.serving import purge_once
from node.store.db import LOCK_WAIT_VARIABLE
from tests.integration.conftest import AGENCIES, Federation
from tests.integration.disclosure_helpers import alert_id, incoming, outgoing, query, request_args
from tests.waiting import async_wait_until

pytestmark = pytest.mark.timeout(180)

NL, DE, RO = AGENCIES
RETENTION_DAYS = 30
LONG_AGO = (datetime.now(UTC) - timedelta(days=100)).isoformat(timespec="seconds")


def dump(federation: Federation, code: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table."""
    with closing(sqlite3.connect(federation.home(code) / "casebridge.db")) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {t: conn.execute(f'SELECT * FROM "{t}" ORDER BY 1').fetchall() for t in tables}  # noqa: S608


def execute(federation: Federation, code: str, sql: str, *params: Any) -> None:
    with closing(sqlite3.connect(federation.home(code) / "casebridge.db")) as conn, conn:
        conn.execute(sql, params)


def set_retention(federation: Federation, code: str, days: int) -> None:
    def edit(document: dict[str, Any]) -> None:
        document["retention_days"] = days

    update_config(NodeHome(federation.home(code)), edit)


def test_purge_removes_only_what_is_past_retention(federation: Federation, tmp_path: Path) -> None:
    federation.match(NL, DE)
    federation.match(NL, RO)
    alerts = {
        case: alert_id(federation, NL, case, peer)
        for case, peer in [
            ("NL-2026-PHONE", DE),  # open; its request gets denied
            ("NL-2026-PASS", DE),  # its request gets approved, then the case is closed
            ("NL-2026-PLATE", DE),  # its match goes away
            ("NL-2026-SOUND", DE),  # dismissed
            ("NL-2026-IBAN", RO),  # open; its request stays pending
            ("NL-2026-PERSON", RO),  # dismissed while its request is pending
            ("NL-2026-SWAP", RO),  # dismissed recently
        ]
    }
    federation.cli_parallel(
        [
            (NL, request_args(alerts[case], "H2"))
            for case in ("NL-2026-PHONE", "NL-2026-PASS", "NL-2026-IBAN", "NL-2026-PERSON")
        ]
    )
    requests = {case: outgoing(federation, NL, alerts[case]) for case in ("NL-2026-PHONE", "NL-2026-PASS")}
    denied_in, approved_in = (incoming(federation, DE, requests[case][1]) for case in ("NL-2026-PHONE", "NL-2026-PASS"))
    federation.cli_parallel(
        [
            (DE, ["disclose", "deny", str(denied_in), "--reason", "covert operation"]),
            (DE, ["disclose", "approve", str(approved_in), "--fields", "title"]),
        ]
    )
    # The plate drops out of NL's case, so the next session marks that match gone.
    plate = tmp_path / "plate.jsonl"
    plate.write_text(
        json.dumps(
            {
                "case_ref": "NL-2026-PLATE",
                "title": "Transport of workers",
                "summary": "Van seen at farms",
                "contact": "Politie Oost",
                "opened": "2026-01-14",
                "identifiers": [{"type": "email", "value": "van.owner@example.nl"}],
            }
        )
        + "\n",
        encoding="utf-8",
    )
    federation.cli_parallel(
        [
            (NL, ["cases", "import", str(plate)]),
            (NL, ["alerts", "dismiss", str(alerts["NL-2026-SOUND"]), "--reason", "common name"]),
            (NL, ["alerts", "dismiss", str(alerts["NL-2026-PERSON"]), "--reason", "not our suspect"]),
            (NL, ["alerts", "dismiss", str(alerts["NL-2026-SWAP"]), "--reason", "different person"]),
            (NL, ["cases", "close", "NL-2026-PASS"]),
        ]
    )
    federation.match(NL, DE)
    assert query(federation, NL, "SELECT match_state FROM alerts WHERE id = ?", alerts["NL-2026-PLATE"]) == [("gone",)]

    # Everything is old except the recently dismissed alert.
    for code in (NL, DE):
        execute(federation, code, "UPDATE alerts SET updated_at = ?", LONG_AGO)
        execute(federation, code, "UPDATE disclosures SET updated_at = ?", LONG_AGO)
        set_retention(federation, code, RETENTION_DAYS)
    execute(
        federation,
        NL,
        "UPDATE alerts SET updated_at = ? WHERE id = ?",
        datetime.now(UTC).isoformat(),
        alerts["NL-2026-SWAP"],
    )

    # A dry run counts and changes nothing, not even the audit log.
    before = dump(federation, NL)
    dry = federation.cli(NL, "purge", "--dry-run", "--json").json()
    assert (dry["alerts"], dry["denied_requests"], dry["releases"], dry["dry_run"]) == (3, 1, 1, True)
    assert dump(federation, NL) == before

    nl, de = federation.cli_parallel([(NL, ["purge", "--json"]), (DE, ["purge", "--json"])])
    assert (nl.json()["alerts"], nl.json()["denied_requests"], nl.json()["releases"]) == (3, 1, 1)
    assert nl.json()["retention_days"] == RETENTION_DAYS
    assert (de.json()["denied_requests"], de.json()["releases"]) == (1, 1)  # the owner's incoming side

    # Closed, gone and dismissed alerts went, with their matched keys; open ones and the pending one stay.
    kept = {r[0] for r in query(federation, NL, "SELECT id FROM alerts")}
    purged = {alerts[c] for c in ("NL-2026-PASS", "NL-2026-PLATE", "NL-2026-SOUND")}
    assert kept == set(alerts.values()) - purged
    assert query(federation, NL, "SELECT COUNT(*) FROM alert_keys WHERE alert_id NOT IN (SELECT id FROM alerts)") == [
        (0,)
    ]
    # Denied requests and releases went on both sides; pending requests stay, however old.
    remaining = query(federation, NL, "SELECT alert_id, status FROM disclosures ORDER BY alert_id")
    assert remaining == sorted([(alerts["NL-2026-IBAN"], "pending"), (alerts["NL-2026-PERSON"], "pending")])
    assert query(federation, DE, "SELECT COUNT(*) FROM disclosures") == [(0,)]
    assert query(federation, NL, "SELECT COUNT(*) FROM disclosures WHERE release IS NOT NULL") == [(0,)]

    # The audit log keeps that the purge happened, and still verifies.
    listing, verified = federation.cli_parallel(
        [(NL, ["audit", "list", "--json"]), (NL, ["audit", "verify"])], check=False
    )
    purges = [e for e in listing.json() if e["event"] == "retention.purged"]
    assert len(purges) == 1
    assert {k: purges[0]["detail"][k] for k in ("alerts", "denied_requests", "releases", "retention_days")} == {
        "alerts": 3,
        "denied_requests": 1,
        "releases": 1,
        "retention_days": RETENTION_DAYS,
    }
    assert purges[0]["detail"]["actor"] == f"cli:{getpass.getuser()}"  # who ran it
    assert verified.returncode == 0, verified.stderr
    assert federation.cli(DE, "audit", "verify", check=False).returncode == 0

    # Purging again finds nothing and records nothing.
    before = dump(federation, NL)
    again = federation.cli(NL, "purge", "--json").json()
    assert (again["alerts"], again["denied_requests"], again["releases"]) == (0, 0, 0)
    assert dump(federation, NL) == before


@pytest.mark.asyncio
async def test_a_failed_retention_run_is_audited_and_the_next_run_still_happens(
    idle_federation: Federation, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The serving node's daily purge, on a database another process holds locked (a real SQLite fault)."""
    monkeypatch.setenv(LOCK_WAIT_VARIABLE, "1000")  # each run waits this long for the lock, then fails
    home = NodeHome(idle_federation.home(NL))
    ops = Operations(home, "test")
    job = Periodic(ops, "retention", functools.partial(purge_once, ops, ConfigWatch(home)), interval=0.01)
    locker = sqlite3.connect(home.database, isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")  # holds the write lock, as a stuck process would
    job.start()
    try:
        await async_wait_until(lambda: job.failures >= 1, 60, "a failed retention run")
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    # The schedule goes on: a later run succeeds, and every failure gets its audit entry once the lock is gone.
    await async_wait_until(lambda: job.runs > job.failures, 60, "a retention run that succeeded")
    await async_wait_until(lambda: job.recorded_failures == job.failures, 60, "the failures in the audit log")
    await job.stop()

    failed = [detail for event, detail in idle_federation.audit_details(NL) if event == "task.failed"]
    assert failed == [{"task": "retention", "error": "StoreUnavailable", "actor": "test"}] * job.failures
    assert any(
        r.levelno == logging.ERROR and "retention failed (StoreUnavailable" in r.getMessage() for r in caplog.records
    )
    assert idle_federation.cli(NL, "audit", "verify").returncode == 0
