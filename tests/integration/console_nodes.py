"""Nodes serving the analyst console as ``casebridge serve --web`` subprocesses, and console users.

Each console test module builds its own small federation from the session's template homes: NL-NP and
DE-BKA (and RO-DIICOT when asked) serve in child processes with a console on a free loopback port, after
both imported one extra pair of linked cases whose owner's case names a victim (so a release carries the
safeguarding marker). Users are added through the operations layer, as ``casebridge users add`` does.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from node.core.home import NodeHome
from node.net.local import LoopThread, free_port
from node.ops import Operations
from node.ops import users as ops_users
from tests.integration.conftest import Federation
from tests.waiting import wait_until

__all__ = ["PASSWORD", "ConsoleNodes", "csrf_of", "logged_in", "start_console_nodes"]

PASSWORD = "a long console password"
# The linked pair: one e-mail address in an NL case and in a DE case whose persons include a victim.
LINKED_EMAIL = "web.link@example.org"
NL_CASE: dict[str, Any] = {
    "case_ref": "NL-2026-WEB", "title": "Online advertisements", "summary": "Adverts with one contact address",
    "contact": "NP liaison", "opened": "2026-03-10", "identifiers": [{"type": "email", "value": LINKED_EMAIL}],
}  # fmt: skip
DE_CASE: dict[str, Any] = {
    "case_ref": "DE-2026-WEB", "title": "Opfer gemeldet", "summary": "Hinweis einer Beratungsstelle",
    "contact": "BKA SO 9", "opened": "2026-03-11", "identifiers": [{"type": "email", "value": LINKED_EMAIL}],
    "persons": [{"name": "Maria Muster", "dob": "2001-05-06", "role": "victim"}],
}  # fmt: skip
USERS = (("ana", "analyst"), ("bob", "approver"), ("cem", "approver"), ("ada", "admin"))
_TOKEN = re.compile(r'name="csrftoken" value="([^"]+)"')


@dataclass
class ConsoleNodes:
    federation: Federation
    urls: dict[str, str] = field(default_factory=dict)

    def ops(self, code: str) -> Operations:
        return Operations(NodeHome(self.federation.home(code)), "cli:test")

    def log(self, code: str) -> str:
        return self.federation.serve_logs[code].read_text(errors="replace")


def start_console_nodes(template: Path, root: Path, loop: LoopThread, codes: tuple[str, ...]) -> ConsoleNodes:
    shutil.copytree(template, root)
    federation = Federation(root=root, loop=loop)
    nodes = ConsoleNodes(federation)
    for code, case in (("NL-NP", NL_CASE), ("DE-BKA", DE_CASE)):
        path = root / f"{code}-web.jsonl"
        path.write_text(json.dumps(case) + "\n", encoding="utf-8")
        federation.cli(code, "cases", "import", str(path))
    for code in codes:
        for name, role in USERS:
            ops_users.add(nodes.ops(code), name, role, PASSWORD)
        port = free_port()
        federation.serve_subprocess(code, "--web", f"127.0.0.1:{port}")
        log = federation.serve_logs[code]

        def listening(log: Path = log) -> bool:
            return b"console on" in log.read_bytes()

        wait_until(listening, 30, f"{code}'s console listening")
        nodes.urls[code] = f"http://127.0.0.1:{port}"
    federation.publish_addresses()
    return nodes


def csrf_of(html: str) -> str:
    found = _TOKEN.search(html)
    assert found, "the page carries no CSRF token"
    return found.group(1)


def login(client: httpx.Client, name: str, password: str = PASSWORD) -> httpx.Response:
    """Log in the way the login form does (GET the form for its token, POST it back)."""
    token = csrf_of(client.get("/login").text)
    return client.post("/login", data={"csrftoken": token, "username": name, "password": password, "next": "/"})


@contextmanager
def logged_in(base_url: str, name: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, follow_redirects=False, timeout=30) as client:
        response = login(client, name)
        assert response.status_code == 303, response.text
        yield client
