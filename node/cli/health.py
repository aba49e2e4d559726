"""``casebridge health``: ask a running node's gRPC health service whether it is serving.

The probe speaks mutual TLS like a peer would, but with the node's own key and certificate, and trusts
only that same certificate; the server accepts its own certificate for this purpose (see node.net.tls).
So it must run where the node home is readable, which is where operators and service managers run it.
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass

import click
import grpc
from cryptography import x509
from grpc_health.v1 import health_pb2, health_pb2_grpc

from crypto.certificates import load_certificate
from node.cli.app import CliContext, emit_json, fail, main
from node.config.settings import Address, ConfigError, load_config, parse_address
from node.core.errors import LocalError
from node.core.home import NodeHome

__all__ = ["health"]

_ATTEMPT_TIMEOUT_S = 3.0
_RETRY_PAUSE_S = 0.5
_WILDCARD_TO_LOOPBACK = {"0.0.0.0": "127.0.0.1", "::": "::1"}  # noqa: S104  (compared, not bound)


@dataclass(frozen=True)
class _Probe:
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


def _check_once(home: NodeHome, target: str, override: str | None, service: str) -> _Probe:
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
                return _Probe("SERVICE_UNKNOWN", f"the node does not report on {service!r}")
            details = exc.details() if isinstance(exc, grpc.Call) else str(exc)
            name = code.name if code is not None else "ERROR"
            return _Probe("UNREACHABLE", f"{name}: {details}")
    status = str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))
    return _Probe(status, "")


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


def _with_reason(probe: _Probe, problem: str | None) -> _Probe:
    if probe.status == "NOT_SERVING" and problem is not None and not probe.detail:
        return _Probe(probe.status, f"the configuration is invalid: {problem}")
    return probe


@main.command()
@click.option(
    "--address",
    default=None,
    help="HOST:PORT where this home's own node listens, if not the configured address (a wildcard host means "
    "loopback). Other agencies' nodes cannot be probed: the check trusts only this node's certificate.",
)
@click.option(
    "--wait",
    type=click.FloatRange(min=0),
    default=0.0,
    help="Keep asking for up to this many seconds until the node reports SERVING.",
)
@click.option(
    "--service",
    default="",
    help="Health service name to ask about; '' (default) is the node as a whole, or casebridge.v1.Exchange.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
def health(obj: CliContext, address: str | None, wait: float, service: str, as_json: bool) -> None:
    """Ask the node's gRPC health service whether it is serving; exit 0 only if SERVING.

    Uses this home's own key and certificate over mutual TLS, so it runs on the node's host with
    read access to the home (the service user, or root). Prints SERVING, NOT_SERVING (for example while
    shutting down) or UNREACHABLE with the reason.

    \b
    Example:
      casebridge --home /srv/casebridge health --wait 30
      casebridge health --address 127.0.0.1:7443 --json
    """
    home = NodeHome(obj.home.absolute())
    agency, listen, problem = _config_or_problem(home, address)
    dialled = parse_address(address) if address else listen
    target = _target(dialled)
    try:
        cert = load_certificate(home.tls_cert.read_bytes())
        home.tls_key.read_bytes()
    except OSError as exc:
        raise LocalError(
            f"{home.tls_dir}: cannot read the node key and certificate ({exc.strerror or type(exc).__name__}); "
            "run health as the node's user"
        ) from None
    override = _name_to_verify(cert, _WILDCARD_TO_LOOPBACK.get(dialled.host, dialled.host))
    deadline = time.monotonic() + wait
    attempts = 0
    while True:
        attempts += 1
        probe = _with_reason(_check_once(home, target, override, service), problem)
        if probe.status == "SERVING" or time.monotonic() + _RETRY_PAUSE_S > deadline:
            break
        time.sleep(_RETRY_PAUSE_S)
    if as_json:
        emit_json(
            {
                "agency": agency,
                "address": target,
                "service": service,
                "status": probe.status,
                "detail": probe.detail,
                "attempts": attempts,
            }
        )
    else:
        click.echo(probe.status)
    if probe.status != "SERVING":
        waited = f" after {wait:g} s" if wait else ""
        hint = ""
        if address and "CERTIFICATE_VERIFY_FAILED" in (probe.detail or ""):
            hint = f" (the node answering at {target} is not this home's node: --address must be its own)"
        fail(f"{agency} at {target} is not serving{waited}: {probe.detail or probe.status}{hint}")
