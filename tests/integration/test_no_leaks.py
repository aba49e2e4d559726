"""No identifier, canonical value, secret or key material reaches logs, audit entries or error messages."""

from __future__ import annotations

import json
import logging
import re
import sqlite3
from pathlib import Path

import grpc
import pytest

from tests.integration.conftest import AGENCIES, CASES, OUTSIDER, Federation, cli_parallel
from tests.integration.raw import credentials, open_channel, open_frame, raw_match

pytestmark = pytest.mark.timeout(180)

SUBPROCESS_NODE = "DE-BKA"
BAD_PHONE = "+31 6 99"
BAD_IBAN = "NL91 ABNA 0417 1643 01"


def _identifiers() -> list[dict[str, str]]:
    """Every identifier and person of every case file, as written there."""
    found: list[dict[str, str]] = []
    for code in AGENCIES:
        for line in (CASES / f"{code}.jsonl").read_text(encoding="utf-8").splitlines():
            case = json.loads(line)
            found += case.get("identifiers", [])
            found += [{"type": "person", **p} for p in case.get("persons", [])]
    return found


def _raw_values() -> set[str]:
    values: set[str] = {BAD_PHONE, BAD_IBAN, BAD_IBAN.replace(" ", "")}
    for ident in _identifiers():
        raw = ident.get("value") or ident["name"]
        values |= {raw, re.sub(r"[\s.-]", "", raw)}
    return {v for v in values if len(v) >= 6}


def _normalize_args(ident: dict[str, str]) -> list[str]:
    if ident["type"] == "person":
        return ["normalize", "person", ident["name"], "--dob", ident["dob"], "--json"]
    args = ["normalize", ident["type"], ident["value"], "--json"]
    for option in ("region", "country", "platform"):
        if option in ident:
            args += [f"--{option}", ident[option]]
    return args


def _canonical_values(home: Path) -> set[str]:
    """Canonical forms and key values, as ``casebridge normalize`` reports them."""
    idents = [i for i in _identifiers() if i.get("value") != "nobody.here@example.org"]
    results = cli_parallel([(home, _normalize_args(i)) for i in idents])
    values: set[str] = set()
    for result in results:
        out = result.json()
        values.add(out["canonical"])
        values |= {key["value"] for key in out["keys"]}
    return values


def _from_databases(federation: Federation, sql: str) -> set[str]:
    found: set[str] = set()
    for code in AGENCIES:
        with sqlite3.connect(federation.home(code) / "casebridge.db") as conn:
            found |= {bytes(row[0]).hex() for row in conn.execute(sql)}
    return found


def _private_key_lines(home: Path) -> set[str]:
    pem = (home / "tls" / "node.key").read_text(encoding="ascii")
    body = [line for line in pem.splitlines() if line and not line.startswith("-----")]
    return {*body, "".join(body)}


def test_nothing_secret_in_logs_audit_or_errors(idle_federation: Federation, caplog: pytest.LogCaptureFixture) -> None:
    federation = idle_federation
    caplog.set_level(logging.DEBUG)
    for code in AGENCIES:
        if code == SUBPROCESS_NODE:
            federation.serve_subprocess(code, "--verbose")
        else:
            federation.serve_in_process(code)
    federation.publish_addresses()

    # A full match with both peers (one of them a `serve` subprocess logging at debug level).
    outcomes = federation.cli("NL-NP", "match", "--json").json()
    assert [o["status"] for o in outcomes] == ["completed", "completed"]
    assert federation.cli("RO-DIICOT", "match", "DE-BKA").returncode == 0

    # A failing import names the line, not the value.
    bad = federation.root / "bad.jsonl"
    bad.write_text(
        json.dumps(
            {
                "case_ref": "NL-2026-BAD",
                "title": "t",
                "summary": "s",
                "contact": "c",
                "opened": "2026-01-01",
                "identifiers": [{"type": "phone", "value": BAD_PHONE}, {"type": "iban", "value": BAD_IBAN}],
            }
        )
        + "\n",
        encoding="utf-8",
    )
    failed = federation.cli("NL-NP", "cases", "import", str(bad), check=False)
    assert failed.returncode != 0
    assert "bad.jsonl:1: identifiers[0].value" in failed.stderr

    # Refusals: a malformed stream (reaches the handler, logged and audited) and an unknown certificate.
    port = federation.ports[SUBPROCESS_NODE]

    async def refusals() -> tuple[grpc.StatusCode, grpc.StatusCode]:
        target = federation.home(SUBPROCESS_NODE)
        async with open_channel(port, credentials(target, federation.home("NL-NP"))) as channel:
            malformed = await raw_match(channel, [open_frame(1), open_frame(1)])  # a second Open mid-session
        async with open_channel(port, credentials(target, federation.home(OUTSIDER))) as channel:
            unknown = await raw_match(channel, [open_frame(1)], timeout=5)
        return malformed.code, unknown.code

    assert federation.loop.run(refusals()) == (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.UNAVAILABLE)
    unknown_caller = federation.cli(OUTSIDER, "match", "NL-NP", check=False)
    assert unknown_caller.returncode == 1

    audits = [federation.cli(code, "audit", "list", "--json").stdout for code in AGENCIES]
    federation.stop_all()  # flushes the subprocess's log
    serve_log = federation.serve_logs[SUBPROCESS_NODE].read_text(encoding="utf-8")
    assert "session" in serve_log and "completed" in serve_log  # the log did capture the sessions
    assert "refused" in caplog.text or "failed" in serve_log

    cli_output = "\n".join(r.stdout + r.stderr for r in federation.transcript if "audit" not in r.args)
    logs = "\n".join([serve_log, caplog.text, cli_output])
    audit_text = "\n".join(audits)
    haystack = logs + "\n" + audit_text
    lower = haystack.lower()

    raw = _raw_values()
    canonical = _canonical_values(federation.home("NL-NP"))
    secret = (federation.home("NL-NP") / "federation.secret").read_text(encoding="ascii").strip().lower()
    keys = set().union(*(_private_key_lines(federation.home(c)) for c in (*AGENCIES, OUTSIDER)))
    elements = _from_databases(federation, "SELECT element FROM match_keys") | _from_databases(
        federation, "SELECT element FROM alert_keys"
    )
    handles = _from_databases(federation, "SELECT match_handle FROM alert_keys")
    assert len(raw) > 20 and len(canonical) > 15 and len(elements) > 15 and len(handles) == 10

    assert [v for v in raw if v in haystack] == []
    assert [v for v in canonical if v in haystack] == []
    assert secret not in lower
    assert [line for line in keys if line in haystack] == []
    assert [e for e in elements if e in lower] == []
    # Match handles are opaque and shown in `alerts` output so analysts can refer to a match; the audit
    # log names alerts by our own alert id and sessions by session id, and the logs name neither.
    assert [h for h in handles if h in lower] == []
