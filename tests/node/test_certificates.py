"""Node certificates: agency code, fingerprints, signatures, and acceptance by gRPC for mutual TLS."""

from __future__ import annotations

import re
from concurrent import futures
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address
from typing import Any

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from crypto.certificates import (
    agency_of,
    create_identity,
    fingerprint,
    load_certificate,
    load_private_key,
    loopback_names,
    same_fingerprint,
    sign,
    validate_agency_code,
    verify,
)
from crypto.errors import CryptoUsageError, InvalidSignature
from proto.casebridge.v1 import casebridge_pb2 as pb
from proto.casebridge.v1 import casebridge_pb2_grpc as pb_grpc

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def _identity(agency: str = "NL-NP", host: str = "127.0.0.1") -> tuple[bytes, bytes]:
    made = create_identity(agency, loopback_names(host), datetime.now(UTC))
    return made.key_pem, made.cert_pem


@pytest.mark.parametrize("code", ["NL-NP", "DE-BKA", "RO-DIICOT", "FR-OCRTEH"])
def test_agency_code_round_trips_through_the_certificate(code: str) -> None:
    _, cert_pem = _identity(code)
    cert = load_certificate(cert_pem)
    assert agency_of(cert) == code
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == code


@pytest.mark.parametrize("code", ["nl-np", "NLNP", "N-NP", "NL-N", "NL-ABCDEFGHIJKLM", "NL-NP ", "NL_NP"])
def test_malformed_agency_codes_are_refused(code: str) -> None:
    with pytest.raises(CryptoUsageError):
        validate_agency_code(code)
    with pytest.raises(CryptoUsageError):
        create_identity(code, ["localhost"], NOW)


def test_loopback_certificate_names_every_loopback_form() -> None:
    cert = load_certificate(_identity(host="127.0.0.1")[1])
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert set(san.get_values_for_type(x509.IPAddress)) == {ip_address("127.0.0.1"), ip_address("::1")}
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == ["urn:casebridge:agency:NL-NP"]


def test_other_hosts_are_carried_as_given() -> None:
    assert loopback_names("node.example.org") == ["node.example.org"]
    assert loopback_names("[2001:db8::7]") == ["2001:db8::7"]
    assert "localhost" in loopback_names("0.0.0.0")  # noqa: S104  (a name, not a bind)


def _bare_certificate(common_name: str, uris: list[str] | None = None) -> x509.Certificate:
    """A self-signed certificate made by hand, with the agency URIs given (none: no SAN at all)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOW)
        .not_valid_after(NOW + timedelta(days=1))
    )
    if uris is not None:
        san = x509.SubjectAlternativeName([x509.UniformResourceIdentifier(uri) for uri in uris])
        builder = builder.add_extension(san, critical=False)
    return builder.sign(key, hashes.SHA256())


def test_agency_falls_back_to_the_common_name() -> None:
    assert agency_of(_bare_certificate("DE-BKA")) == "DE-BKA"


@pytest.mark.parametrize(
    "uris", [["urn:casebridge:agency:DE-BKA", "urn:casebridge:agency:NL-NP"], ["urn:casebridge:agency:de-bka"]]
)
def test_two_agencies_or_a_malformed_code_in_a_certificate_are_refused(uris: list[str]) -> None:
    with pytest.raises(CryptoUsageError):
        agency_of(_bare_certificate("DE-BKA", uris))


def test_fingerprint_is_stable_and_comparable_in_both_forms() -> None:
    _, cert_pem = _identity()
    first = fingerprint(load_certificate(cert_pem))
    assert first == fingerprint(load_certificate(cert_pem))
    assert re.fullmatch(r"([0-9A-F]{2}:){31}[0-9A-F]{2}", first)
    assert same_fingerprint(first, first.replace(":", "").lower())
    assert not same_fingerprint(first, fingerprint(load_certificate(_identity()[1])))


def test_signature_verifies() -> None:
    key_pem, cert_pem = _identity()
    signature = sign(load_private_key(key_pem), "casebridge.v1.Release", b"release bytes")
    verify(load_certificate(cert_pem), "casebridge.v1.Release", b"release bytes", signature)


@pytest.mark.parametrize("tamper", ["data", "context", "signature", "certificate", "garbage"])
def test_any_tampering_gives_the_one_opaque_error(tamper: str) -> None:
    key_pem, cert_pem = _identity()
    cert = load_certificate(cert_pem)
    data, context = b"release bytes", "casebridge.v1.Release"
    signature = sign(load_private_key(key_pem), context, data)
    if tamper == "data":
        data = b"release bytez"
    elif tamper == "context":
        context = "casebridge.v1.Denial"
    elif tamper == "signature":
        signature = signature[:-1] + bytes([signature[-1] ^ 1])
    elif tamper == "certificate":
        cert = load_certificate(_identity()[1])
    else:
        signature = b"\x00" * 5
    with pytest.raises(InvalidSignature) as caught:
        verify(cert, context, data, signature)
    assert str(caught.value) == "invalid signature"


def test_bad_pem_is_a_local_error() -> None:
    with pytest.raises(CryptoUsageError):
        load_certificate(b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    with pytest.raises(CryptoUsageError):
        load_private_key(b"nothing")


class _Echo(pb_grpc.ExchangeServicer):
    def RequestDisclosure(self, request: pb.DisclosureRequest, context: grpc.ServicerContext) -> pb.DisclosureAck:
        # The stubs type each auth property as bytes; at run time it is a list of them.
        pems: Any = context.auth_context()["x509_pem_cert"]
        peer_cert = load_certificate(pems[0])
        return pb.DisclosureAck(request_id=f"{request.request_id}:{agency_of(peer_cert)}")


def test_grpc_accepts_the_certificates_for_mutual_tls() -> None:
    server_key, server_cert = _identity("NL-NP")
    client_key, client_cert = _identity("DE-BKA")
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    # Only the unary method is needed here; the stub marks every RPC abstract.
    pb_grpc.add_ExchangeServicer_to_server(_Echo(), server)  # type: ignore[abstract]
    credentials = grpc.ssl_server_credentials(
        [(server_key, server_cert)], root_certificates=client_cert, require_client_auth=True
    )
    port = server.add_secure_port("localhost:0", credentials)
    server.start()
    try:
        channel_credentials = grpc.ssl_channel_credentials(
            root_certificates=server_cert, private_key=client_key, certificate_chain=client_cert
        )
        with grpc.secure_channel(f"localhost:{port}", channel_credentials) as channel:
            ack = pb_grpc.ExchangeStub(channel).RequestDisclosure(pb.DisclosureRequest(request_id="r1"), timeout=10)
        assert ack.request_id == "r1:DE-BKA"
        # A client whose certificate the server did not pin is turned away during the handshake.
        stranger_key, stranger_cert = _identity("RO-DIICOT")
        stranger = grpc.ssl_channel_credentials(
            root_certificates=server_cert, private_key=stranger_key, certificate_chain=stranger_cert
        )
        with grpc.secure_channel(f"localhost:{port}", stranger) as channel, pytest.raises(grpc.RpcError):
            pb_grpc.ExchangeStub(channel).RequestDisclosure(pb.DisclosureRequest(request_id="r2"), timeout=10)
    finally:
        server.stop(None)
