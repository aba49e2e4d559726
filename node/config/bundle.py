"""Identity bundles: what one agency hands another so it can be pinned as a peer, in one file.

A bundle is a small TOML document::

    format = "casebridge-identity-bundle-v1"
    agency = "NL-NP"
    federation = "eu-tht"
    address = "casebridge.politie.example:7443"
    fingerprint = "3A:1F:...:9C"
    certificate = \"\"\"
    -----BEGIN CERTIFICATE-----
    ...
    \"\"\"

It holds only public facts: the certificate (never the private key) and never the federation secret. The
fingerprint is there for people, to read out over the phone; on reading, it must match the certificate, and
the certificate must carry the bundle's agency code, so a bundle cannot name one agency and pin another.
A bundle is not signed: whoever hands it over vouches for it, which is why the fingerprint is compared by
another channel before the peer is relied on.
"""

from __future__ import annotations

import socket
import tomllib
from dataclasses import dataclass
from pathlib import Path

import tomli_w
from cryptography import x509

from crypto.certificates import (
    agency_of,
    certificate_pem,
    fingerprint,
    load_certificate,
    same_fingerprint,
)
from node.config.settings import FEDERATION_NAME, Address, NodeConfig, parse_address
from node.core.errors import EXPECTED_ERRORS, LocalError
from node.core.home import NodeHome

_CERTIFICATE_ERRORS: tuple[type[Exception], ...] = (*EXPECTED_ERRORS, UnicodeEncodeError)

__all__ = ["BUNDLE_FORMAT", "Bundle", "bundle_of", "parse_bundle", "read_bundle", "render_bundle"]

BUNDLE_FORMAT = "casebridge-identity-bundle-v1"
_FIELDS = {"format", "agency", "federation", "address", "fingerprint", "certificate"}
_WILDCARD_HOSTS = {"0.0.0.0", "::"}  # noqa: S104  (compared, not bound)
_HEADER = (
    "# casebridge identity bundle: hand this file to the peer agencies of the federation.\n"
    "# It holds no secret. Before pinning it, each peer compares the fingerprint with you by phone.\n"
)


@dataclass(frozen=True)
class Bundle:
    """A checked bundle: the certificate carries ``agency`` and has the stated fingerprint."""

    agency: str
    federation: str
    address: Address
    fingerprint: str
    certificate: x509.Certificate

    @property
    def certificate_pem(self) -> bytes:
        return certificate_pem(self.certificate)


def _advertised(listen: Address) -> Address:
    # A node listening on every interface is reached under this machine's name, which init put into the
    # certificate for exactly that case.
    if listen.host in _WILDCARD_HOSTS:
        return Address(socket.gethostname().lower(), listen.port)
    return listen


def bundle_of(home: NodeHome, config: NodeConfig, address: Address | None = None) -> Bundle:
    """Our own bundle; ``address`` overrides the listen address peers should dial (NAT, load balancer)."""
    try:
        cert = load_certificate(home.tls_cert.read_bytes())
    except OSError as exc:
        raise LocalError(f"{home.tls_cert}: cannot read the node certificate ({type(exc).__name__})") from None
    return Bundle(
        agency=config.agency,
        federation=config.federation,
        address=address or _advertised(config.listen),
        fingerprint=fingerprint(cert),
        certificate=cert,
    )


def render_bundle(bundle: Bundle) -> str:
    document = {
        "format": BUNDLE_FORMAT,
        "agency": bundle.agency,
        "federation": bundle.federation,
        "address": str(bundle.address),
        "fingerprint": bundle.fingerprint,
        "certificate": bundle.certificate_pem.decode("ascii"),
    }
    return _HEADER + tomli_w.dumps(document, multiline_strings=True)


def _field(document: dict[str, object], key: str, where: str) -> str:
    value = document.get(key)
    if not isinstance(value, str) or not value:
        raise LocalError(f"{where}: {key}: missing or not a string")
    return value


def parse_bundle(text: str, where: str) -> Bundle:
    """Check a bundle's text; every problem is a LocalError naming ``where`` and the field."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LocalError(f"{where}: not an identity bundle (not valid TOML: {exc})") from None
    unknown = sorted(set(document) - _FIELDS)
    if unknown:
        raise LocalError(f"{where}: {unknown[0]}: unknown field; known: {', '.join(sorted(_FIELDS))}")
    if document.get("format") != BUNDLE_FORMAT:
        raise LocalError(f"{where}: format: expected {BUNDLE_FORMAT!r}")
    agency = _field(document, "agency", where)
    federation = _field(document, "federation", where)
    if not FEDERATION_NAME.fullmatch(federation):
        raise LocalError(f"{where}: federation: {federation!r} is not a federation name")
    try:
        address = parse_address(_field(document, "address", where))
    except LocalError as exc:
        raise LocalError(f"{where}: address: {exc}") from None
    stated = _field(document, "fingerprint", where)
    try:
        cert = load_certificate(_field(document, "certificate", where).encode("ascii"))
        carried = agency_of(cert)
    except _CERTIFICATE_ERRORS as exc:
        raise LocalError(f"{where}: certificate: {exc}") from None
    if carried != agency:
        raise LocalError(f"{where}: certificate: carries agency {carried}, but the bundle names {agency}")
    actual = fingerprint(cert)
    if not same_fingerprint(actual, stated):
        raise LocalError(f"{where}: fingerprint: does not match the certificate; the bundle was altered")
    return Bundle(agency=agency, federation=federation, address=address, fingerprint=actual, certificate=cert)


def read_bundle(path: Path) -> Bundle:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LocalError(f"{path}: cannot read the identity bundle ({type(exc).__name__})") from None
    return parse_bundle(text, str(path))
