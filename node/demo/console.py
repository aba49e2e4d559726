"""The demo's analyst console: NL-NP's, with two demo users, served until the person stops it."""

from __future__ import annotations

import secrets
from collections.abc import Callable

from node.config.settings import Address
from node.core.home import NodeHome
from node.demo.tour import DemoNode, Say
from node.net.local import LoopThread
from node.ops import users as ops_users
from node.web import ConsoleServer

__all__ = ["DEMO_USERS", "serve_console"]

# (name, role): an analyst prepares, an approver approves (four eyes).
DEMO_USERS = (("demo-analyst", "analyst"), ("demo-approver", "approver"))


def serve_console(loop: LoopThread, node: DemoNode, say: Say, wait: Callable[[], None]) -> str:
    """Serve ``node``'s console on a free loopback port until ``wait()`` returns; returns its URL."""
    logins = []
    for name, role in DEMO_USERS:
        password = secrets.token_urlsafe(12)
        ops_users.add(node.ops(), name, role, password)
        logins.append((name, role, password))
    home = NodeHome(node.home)
    console = ConsoleServer(home, node.ops().config(), Address("127.0.0.1", 0))
    loop.run(console.start())
    try:
        say(f"8. The analyst console of {node.code} is open at {console.url}")
        for name, role, password in logins:
            say(f"   log in as {name} ({role}) with the password {password}")
        say("   the three nodes keep serving while the console is open; press Ctrl-C to stop")
        wait()
    finally:
        loop.run(console.stop())
    return console.url
