"""The node's gRPC server: Exchange over mutual TLS, plus the standard health and reflection services."""

from __future__ import annotations

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from matcher.psi import Blinder, blind_in_process
from node.config.settings import Address
from node.core.errors import LocalError
from node.matching.driver import SESSION_IDLE_TIMEOUT_S
from node.net.service import ExchangeService, add_exchange_to_server
from node.net.tls import ConfigWatch, server_credentials
from proto.casebridge.v1 import casebridge_pb2 as pb

__all__ = ["MAX_MESSAGE_BYTES", "RunningServer", "create_server"]

# Our chunks are about 128 KiB; the default 4 MB limit stays in force on purpose.
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
SERVICE_NAME = pb.DESCRIPTOR.services_by_name["Exchange"].full_name


class _ConfigHealth(health.HealthServicer):
    """Health that follows the config file: NOT_SERVING while it is invalid (``casebridge health`` reads the
    reason locally), SERVING again once it is repaired. A server shutting down stays NOT_SERVING."""

    def __init__(self, watch: ConfigWatch) -> None:
        super().__init__()
        self._watch = watch

    def Check(
        self, request: health_pb2.HealthCheckRequest, context: grpc.ServicerContext
    ) -> health_pb2.HealthCheckResponse:
        serving = self._watch.check() is None
        status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        for name in ("", SERVICE_NAME):
            self.set(name, status)
        return super().Check(request, context)


class RunningServer:
    """A started server and the port it is bound to (tests bind port 0)."""

    def __init__(self, server: grpc.aio.Server, port: int, health_servicer: health.HealthServicer) -> None:
        self.server = server
        self.port = port
        self._health = health_servicer

    async def stop(self, grace: float = 5.0) -> None:
        """Report NOT_SERVING, then let running sessions finish for up to ``grace`` seconds."""
        self._health.enter_graceful_shutdown()
        await self.server.stop(grace)

    async def wait(self) -> None:
        await self.server.wait_for_termination()


async def create_server(
    watch: ConfigWatch,
    listen: Address | None = None,
    blinder: Blinder = blind_in_process,
    idle_timeout: float = SESSION_IDLE_TIMEOUT_S,
) -> RunningServer:
    """Build, bind and start the server; ``listen`` overrides the configured address (port 0 = any).

    ``blinder`` spreads each session's blinding over threads of this process (default: the calling thread).
    """
    config = watch.get()
    address = listen or config.listen
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            # Without this, a second node started on the same port shares it silently and peers reach
            # either at random; with it, the second one fails to bind and says so.
            ("grpc.so_reuseport", 0),
        ]
    )
    add_exchange_to_server(ExchangeService(watch, blinder, idle_timeout), server)
    health_servicer = _ConfigHealth(watch)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME),
        server,
    )
    target = str(address)
    try:
        port = server.add_secure_port(target, server_credentials(watch))
    except RuntimeError:
        port = 0
    if port == 0:
        raise LocalError(f"cannot listen on {target}: the address is in use (another node?) or not on this host")
    await server.start()
    health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    health_servicer.set(SERVICE_NAME, health_pb2.HealthCheckResponse.SERVING)
    return RunningServer(server, port, health_servicer)
