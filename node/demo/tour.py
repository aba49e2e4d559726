"""The end-to-end tour behind ``casebridge demo``: three agencies on loopback, from init to release.

Everything runs through the same use cases (:mod:`node.ops`) that the operator's and analyst's commands
call, in this process to keep the tour fast; the three nodes serve real gRPC over mutual TLS on loopback
ports from a background event loop. The homes stay in the folder the demo names, so a person can go on
exploring with the CLI.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matcher.identifiers import KEY_TYPES
from matcher.psi import Mode
from node.cases.synthetic import agency_case_files, write_jsonl
from node.core.errors import LocalError
from node.core.home import NodeHome
from node.net.local import LoopThread, free_ports
from node.net.server import RunningServer, create_server
from node.net.tls import ConfigWatch
from node.ops import Operations
from node.ops import alerts as ops_alerts
from node.ops import audit as ops_audit
from node.ops import cases as ops_cases
from node.ops import disclosure as ops_disclosure
from node.ops import identity as ops_identity
from node.ops import peers as ops_peers
from node.ops.matching import match_peers

__all__ = ["AGENCIES", "DemoNode", "Linger", "StoryCases", "run_demo"]

AGENCIES = ("NL-NP", "DE-BKA", "RO-DIICOT")
FEDERATION = "demo-eu"
BACKGROUND_CASES = 150
ACTOR = "demo"


# Hand-written cases whose overlaps show each kind of match; every name and number is invented.
_STORY: dict[str, list[dict[str, Any]]] = {
    "NL-NP": [
        {
            "case_ref": "NL-2026-0042",
            "title": "Recruitment through a fake modelling agency",
            "summary": "Young women recruited online for 'modelling work' in Rotterdam, passports withheld.",
            "contact": "liaison.thb@politie.example",
            "opened": "2026-03-01",
            "identifiers": [
                {"type": "phone", "value": "06 1234 5678", "region": "NL"},
                {"type": "email", "value": "Anna.K.Models+jobs@gmail.com"},
                {"type": "iban", "value": "NL91 ABNA 0417 1643 00"},
                {"type": "social", "platform": "instagram", "value": "@anna.k.models"},
            ],
            "persons": [
                {"name": "Ana Kovač", "dob": "1999-04-07", "role": "victim"},
                {"name": "Іван Петренко", "dob": "1990-01-15", "role": "suspect"},
            ],
        },
        {
            "case_ref": "NL-2026-0057",
            "title": "Cash couriers paid in bitcoin",
            "summary": "Couriers moving cash between Amsterdam and Bucharest.",
            "contact": "liaison.thb@politie.example",
            "opened": "2026-05-12",
            "identifiers": [
                {"type": "crypto", "value": "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"},
                {"type": "plate", "value": "B-123-XYZ", "country": "RO"},
            ],
            "persons": [],
        },
    ],
    "DE-BKA": [
        {
            "case_ref": "DE-2026-1187",
            "title": "Wohnungsprostitution Köln-Ehrenfeld",
            "summary": "Flat used for forced prostitution; a Dutch mobile number in the adverts.",
            "contact": "ermittlung-mh@bka.example",
            "opened": "2026-04-20",
            "identifiers": [
                {"type": "phone", "value": "+31 6 12345678"},
                {"type": "passport", "value": "05 123 4567", "country": "RO"},
                {"type": "email", "value": "annakmodels@googlemail.com"},
            ],
            "persons": [{"name": "Anna Kovac", "dob": "1999-04-07", "role": "victim"}],
        },
    ],
    "RO-DIICOT": [
        {
            "case_ref": "RO-2026-0311",
            "title": "Recrutare prin anunțuri false de muncă",
            "summary": "Organised group recruiting through fake job adverts for Western Europe.",
            "contact": "cooperare@diicot.example",
            "opened": "2026-02-02",
            "identifiers": [
                {"type": "passport", "value": "051234567", "country": "ROU"},
                {"type": "iban", "value": "NL91ABNA0417164300"},
                {"type": "phone", "value": "0040 721 234 567", "region": "RO"},
                {"type": "plate", "value": "B 123 XYZ", "country": "RO"},
            ],
            "persons": [
                {"name": "Ivan Petrenko", "dob": "1990-01-15", "role": "suspect"},
                {"name": "Ana Kovac", "dob": "1999-07-04", "role": "victim"},
            ],
        },
    ],
}


def _story() -> dict[str, list[dict[str, Any]]]:
    """A fresh copy of the hand-written cases."""
    return copy.deepcopy(_STORY)


StoryCases = dict[str, list[dict[str, Any]]]


@dataclass(frozen=True)
class DemoNode:
    code: str
    home: Path
    port: int

    def ops(self) -> Operations:
        return Operations(NodeHome(self.home), ACTOR)


Say = Callable[[str], None]
Show = Callable[[str, list[dict[str, Any]]], None]


def _set_up(folder: Path, nodes: list[DemoNode], say: Say) -> None:
    say(f"1. Three agencies set up their nodes in {folder} (one federation secret, handed over out of band)")
    first = nodes[0]
    for node in nodes:
        secret = None if node is first else NodeHome(first.home).federation_secret
        ops_identity.init(node.home, node.code, FEDERATION, f"127.0.0.1:{node.port}", secret_file=secret)
    for node in nodes:
        for other in nodes:
            if other is not node:
                given = ops_peers.source_from_file(other.code, f"127.0.0.1:{other.port}", NodeHome(other.home).tls_cert)
                ops_peers.pin(node.ops(), given, ops_peers.PolicyChange(types=",".join(KEY_TYPES)))
    say("   each node pins the other two nodes' certificates, sharing every key type (names included)")


def _import(folder: Path, nodes: list[DemoNode], say: Say) -> None:
    say(f"2. Each agency imports its cases: a few linked ones and {BACKGROUND_CASES} synthetic background cases")
    background = agency_case_files(AGENCIES, BACKGROUND_CASES, seed=11, overlap=0.1, pool_size=40)
    story = _story()
    for node in nodes:
        path = write_jsonl(story[node.code] + background[node.code], folder / f"{node.code.lower()}-cases.jsonl")
        say("   " + ops_cases.import_line(path.name, ops_cases.import_file(node.ops(), path, workers=1)))


def _match(nodes: list[DemoNode], say: Say, show: Show) -> None:
    say("4. Matching: NL-NP with DE-BKA and RO-DIICOT, then DE-BKA with RO-DIICOT")
    for node, partners in ((nodes[0], [nodes[1], nodes[2]]), (nodes[1], [nodes[2]])):
        for o in asyncio.run(match_peers(node.ops(), tuple(p.code for p in partners), Mode.MUTUAL)):
            say(f"   {node.code} <-> {o.peer}: {o.own_size} x {o.peer_size} keys, "
                f"{o.intersection} shared, {o.new_alerts} new alerts for {node.code}")  # fmt: skip
    say("5. Alerts: each agency sees only its own cases that matched, and with whom")
    for node in nodes:
        show(node.code, [a.as_json() for a in ops_alerts.list_all(node.ops())])


def _follow_up(nodes: list[DemoNode], say: Say) -> None:
    say("6. Follow-up: DE-BKA asks NL-NP about the match on its case DE-2026-1187")
    de, nl = nodes[1], nodes[0]
    alert = next(a for a in ops_alerts.list_all(de.ops()) if a.case_ref == "DE-2026-1187" and a.peer == "NL-NP")
    asked = ops_disclosure.request(
        de.ops(),
        alert.id,
        "joint investigation into the Rotterdam-Cologne recruitment network",
        "EU 2016/794 art. 18; StPO 161",
        "H1",
    )
    say(f"   disclosure {asked.disclosure.id}: request sent to {asked.peer}; waiting for its decision")
    request = ops_disclosure.list_all(nl.ops(), "incoming")[-1]
    say(f"   NL-NP sees a pending request about its case {request.case_ref} (DE-BKA does not know that ref)")
    approved = ops_disclosure.approve(nl.ops(), request.id, ["title", "summary", "contact", "persons"])
    d = approved.disclosure
    marker = " with the safeguarding marker (a victim is named)" if d.safeguarding else ""
    say(f"   disclosure {d.id}: released {','.join(d.fields)} to {approved.peer} under {d.handling}{marker}")
    released = ops_disclosure.list_all(de.ops(), "outgoing")[-1].as_json()
    say(f"   DE-BKA received the signed release (handling {released['handling']}):")
    for field, value in sorted((released["released"] or {}).items()):
        text = "; ".join(f"{p['name']} ({p['role']})" for p in value) if field == "persons" else value
        say(f"     {field}: {text}")
    if released["safeguarding"]:
        say(f"   {released['safeguarding_note']}")


# Called while the nodes still serve (the console uses it); the nodes stop when it returns.
Linger = Callable[[LoopThread, list[DemoNode]], None]


def run_demo(folder: Path, say: Say, show: Show, linger: Linger | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    ports = free_ports(len(AGENCIES))
    nodes = [DemoNode(code, folder / code.lower(), port) for code, port in zip(AGENCIES, ports, strict=True)]
    _set_up(folder, nodes, say)
    _import(folder, nodes, say)
    say("3. The nodes serve over mutual TLS on loopback")
    loop = LoopThread("demo-servers")
    servers: list[RunningServer] = []
    try:
        for node in nodes:
            servers.append(loop.run(create_server(ConfigWatch(NodeHome(node.home)))))
        _match(nodes, say, show)
        _follow_up(nodes, say)
        say("7. Every node checks its audit log")
        for node in nodes:
            checked = ops_audit.verify(node.ops())
            if not checked.intact:
                raise LocalError(f"{node.code}: audit log broken: {checked.problems[0]}")
            say(f"   {node.code}: audit log intact: {checked.entries} entries")
        if linger is not None:
            linger(loop, nodes)
    finally:
        for server in servers:
            loop.run(server.stop(0))
        loop.close()
