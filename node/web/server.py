"""Serving the console next to the exchange, on the same event loop: plain HTTP on loopback only.

On any address that is not loopback the console speaks HTTPS only, with ``[web] certificate`` / ``key`` when
configured and the node's own certificate otherwise. Uvicorn's access log is off: request paths carry filter
values (case references) that do not belong in a log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

import uvicorn

from node.config.settings import Address, NodeConfig, is_loopback
from node.core.errors import LocalError
from node.core.home import NodeHome
from node.core.keyfile import local_key
from node.web.app import create_app

__all__ = ["ConsoleServer", "console_secret"]

log = logging.getLogger("casebridge.console")


def console_secret(home: NodeHome) -> bytes:
    """The key that signs this node's console cookies, created on first use (owner-only)."""
    return local_key(home.root / "console.secret", "the console secret")


class _Server(uvicorn.Server):
    """Uvicorn without its own signal handling: the node's ``serve`` decides when everything stops."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class ConsoleServer:
    """The console of one node, started and stopped from inside a running event loop."""

    def __init__(self, home: NodeHome, config: NodeConfig, listen: Address) -> None:
        web = config.web
        cert: Path | None = web.certificate
        key: Path | None = web.key
        if cert is None and not is_loopback(listen.host):
            cert, key = home.tls_cert, home.tls_key
        self.https = cert is not None
        self._stopping = asyncio.Event()
        self.app = create_app(
            home, config.agency, console_secret(home), https=self.https, session_minutes=web.session_minutes,
            stopping=self._stopping,
        )  # fmt: skip
        self.config = uvicorn.Config(
            self.app,
            host=listen.host,
            port=listen.port,
            ssl_certfile=str(cert) if cert else None,
            ssl_keyfile=str(key) if key else None,
            access_log=False,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=3,
            server_header=False,
        )
        self.server = _Server(self.config)
        self.task: asyncio.Task[None] | None = None
        self.listen = listen

    @property
    def url(self) -> str:
        scheme = "https" if self.https else "http"
        host = f"[{self.listen.host}]" if ":" in self.listen.host else self.listen.host
        return f"{scheme}://{host}:{self.port}/"

    @property
    def port(self) -> int:
        for server in self.server.servers:
            for sock in server.sockets:
                return int(sock.getsockname()[1])
        return self.listen.port

    async def start(self) -> None:
        """Listen; returns once the console accepts connections (or raises why it cannot)."""
        self.task = asyncio.create_task(self.server.serve())
        while not self.server.started:
            if self.task.done():
                with contextlib.suppress(SystemExit):  # uvicorn's answer to a port it cannot bind
                    self.task.result()
                raise LocalError(f"the console cannot listen on {self.listen} (in use, or not an address of ours)")
            await asyncio.sleep(0.02)
        log.info("console on %s", self.url)

    async def stop(self) -> None:
        self._stopping.set()
        self.server.should_exit = True
        if self.task is not None:
            await self.task
