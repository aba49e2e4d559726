"""Asking this node's own gRPC health service whether it is serving.

The probe speaks mutual TLS like a peer would, but with the node's own key and certificate, and trusts
only that same certificate; the server accepts its own certificate for this purpose (see node.net.tls).
So it must run where the node home is readable, which is where operators and service managers run it.
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass

import grpc
from cryptography import x509
from grpc_health.v1 import health_pb2, health_pb2_grpc

from crypto.certificates import load_certificate
from node.config.settings import Address, ConfigError, load_config, parse_address
from node.core.errors import LocalError
from node.core.home import NodeHome
from node.ops.context import Operations
from node.store import audit as audit_log
from node.store import reading

__all__ = ["HealthReport", "Probe", "probe"]

_ATTEMPT_TIMEOUT_S = 3.0
_RETRY_PAUSE_S = 0.5
# Sessions a peer ended as peer-misbehaved within this window are reported with every health answer.
MISBEHAVIOUR_WINDOW_S = 24 * 3600
_WILDCARD_TO_LOOPBACK = {"0.0.0.0": "127.0.0.1", "::": "::1"}  # noqa: S104  (compared, not bound)


@dataclass(frozen=True)
class Probe:
    status: str  # a HealthCheckResponse status name, or UNREACHABLE
    detail: str


def _target(address: Address) -> str:
    return str(Address(_WILDCARD_TO_LOOPBACK.get(address.host, address.host), address.port))


def _name_to_verify(cert: x509.Certificate, host: str) -> str | None:
    """The server name to check against our certificate: the dialled host if it carries it, else one it does.

    Overriding the name is safe here because the only trusted root is this exact certificate.
    """
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    dns = list(san.get_values_for_type(x509.DNSName))
    ips = [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    bare = host.strip("[]")
    try:
        bare = str(ipaddress.ip_address(bare))
    except ValueError:
        bare = bare.lower()
    if bare in dns or bare in ips:
        return None
    names = dns or ips
    return names[0] if names else None


def _check_once(home: NodeHome, target: str, override: str | None, service: str) -> Probe:
    credentials = grpc.ssl_channel_credentials(
        root_certificates=home.tls_cert.read_bytes(),
        private_key=home.tls_key.read_bytes(),
        certificate_chain=home.tls_cert.read_bytes(),
    )
    options = [("grpc.ssl_target_name_override", override)] if override else []
    # A fresh channel per attempt: a reused one backs off between reconnects for longer than we wait.
    with grpc.secure_channel(target, credentials, options) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=_ATTEMPT_TIMEOUT_S)
        except grpc.RpcError as exc:
            code = exc.code() if isinstance(exc, grpc.Call) else None
            if code is grpc.StatusCode.NOT_FOUND:
                return Probe("SERVICE_UNKNOWN", f"the node does not report on {service!r}")
            details = exc.details() if isinstance(exc, grpc.Call) else str(exc)
            name = code.name if code is not None else "ERROR"
            return Probe("UNREACHABLE", f"{name}: {details}")
    status = str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))
    return Probe(status, "")


def _config_or_problem(home: NodeHome, address: str | None) -> tuple[str, Address, str | None]:
    """Agency and listen address from the config; while it is invalid, --address is enough to probe, and the
    reason is what a NOT_SERVING node reports (its peers hear only that it cannot serve)."""
    try:
        config = load_config(home)
    except ConfigError as exc:
        if address is None:
            raise LocalError(f"{exc}; give --address to ask the running node anyway") from None
        return "this node", parse_address(address), str(exc)
    return config.agency, config.listen, None


def _with_reason(probe: Probe, problem: str | None) -> Probe:
    if probe.status == "NOT_SERVING" and problem is not None and not probe.detail:
        return Probe(probe.status, f"the configuration is invalid: {problem}")
    return probe


@dataclass(frozen=True)
class HealthReport:
    """What the node answered, after how many attempts; ``status`` is SERVING, NOT_SERVING,
    SERVICE_UNKNOWN or UNREACHABLE."""

    agency: str
    address: str
    service: str
    status: str
    detail: str
    attempts: int
    misbehaved: dict[str, int]  # peer -> sessions ended as peer-misbehaved in the last 24 hours

    @property
    def serving(self) -> bool:
        return self.status == "SERVING"

    def misbehaviour_warning(self) -> str | None:
        """One line for operators when a peer was caught misbehaving lately, else None."""
        if not self.misbehaved:
            return None
        total = sum(self.misbehaved.values())
        peers = ", ".join(f"{peer} {n}" for peer, n in self.misbehaved.items())
        return (
            f"{total} session(s) in the last 24 hours ended as peer-misbehaved ({peers}); "
            "see 'casebridge audit list --event session.misbehaved'"
        )

    def as_json(self) -> dict[str, object]:
        return {
            "agency": self.agency,
            "address": self.address,
            "service": self.service,
            "status": self.status,
            "detail": self.detail,
            "attempts": self.attempts,
            "misbehaved_24h": dict(self.misbehaved),
        }


def _recent_misbehaviour(ops: Operations) -> dict[str, int]:
    """Per peer, the sessions this node recorded as peer-misbehaved in the last 24 hours."""
    if not ops.home.database.exists():
        return {}
    with reading(ops.home, create=False) as db:
        since = ops.clock.ago_iso(MISBEHAVIOUR_WINDOW_S)
        return audit_log.events_since_by_peer(db, "session.misbehaved", since)


def _own_certificate(home: NodeHome) -> x509.Certificate:
    try:
        cert = load_certificate(home.tls_cert.read_bytes())
        home.tls_key.read_bytes()
    except OSError as exc:
        raise LocalError(
            f"{home.tls_dir}: cannot read the node key and certificate ({exc.strerror or type(exc).__name__}); "
            "run health as the node's user"
        ) from None
    return cert


def probe(ops: Operations, address: str | None = None, wait: float = 0.0, service: str = "") -> HealthReport:
    """Ask the node at ``address`` (default: the configured listen address) until SERVING or ``wait`` s pass."""
    agency, listen, problem = _config_or_problem(ops.home, address)
    dialled = parse_address(address) if address else listen
    target = _target(dialled)
    cert = _own_certificate(ops.home)
    override = _name_to_verify(cert, _WILDCARD_TO_LOOPBACK.get(dialled.host, dialled.host))
    deadline = ops.clock.monotonic() + wait
    attempts = 0
    while True:
        attempts += 1
        answer = _with_reason(_check_once(ops.home, target, override, service), problem)
        if answer.status == "SERVING" or ops.clock.monotonic() + _RETRY_PAUSE_S > deadline:
            break
        time.sleep(_RETRY_PAUSE_S)
    return HealthReport(agency, target, service, answer.status, answer.detail, attempts, _recent_misbehaviour(ops))
