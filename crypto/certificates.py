"""Node identity: an ECDSA P-256 key, a self-signed certificate naming the agency, and signatures.

Each node is its own root: peers pin its certificate (by file and SHA-256 fingerprint) instead of trusting a
CA, so the certificate is self-signed with ``basicConstraints CA:true`` -- gRPC (BoringSSL) then accepts it
as the trust anchor for itself. P-256 rather than Ed25519 because every TLS stack gRPC ships with accepts it
for mutual TLS.

The agency code travels twice: as the subject CN and as the SAN URI ``urn:casebridge:agency:<CODE>``.
:func:`agency_of` prefers the URI because a SAN is what TLS stacks expose to the verifying side.

Fingerprints are SHA-256 over the DER encoding, upper-case hex pairs joined by colons -- the form
``openssl x509 -noout -fingerprint -sha256`` prints, so an operator can compare them by eye over the phone.
:func:`same_fingerprint` compares fingerprints written in either that form or as plain hex.

Signatures (:func:`sign`, :func:`verify`) carry a context label so a signature made for one purpose (a
disclosure release, say) can never be replayed as a signature for another. What :func:`verify` guarantees:
the data was signed under that context by the holder of the certificate's key. It does not check the
certificate's validity period or that the certificate is a pinned peer's; the caller does that.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature as _CryptographyInvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from crypto.errors import CryptoUsageError, InvalidSignature

__all__ = [
    "AGENCY_URI_PREFIX",
    "DEFAULT_VALIDITY_DAYS",
    "InvalidSignature",
    "NodeIdentity",
    "agency_of",
    "certificate_pem",
    "create_identity",
    "fingerprint",
    "load_certificate",
    "load_private_key",
    "loopback_names",
    "same_fingerprint",
    "sign",
    "validate_agency_code",
    "verify",
]

AGENCY_CODE = re.compile(r"^[A-Z]{2}-[A-Z0-9]{2,12}$")
AGENCY_URI_PREFIX = "urn:casebridge:agency:"
# Long enough not to surprise an operator, short enough that a lost key does not stay trusted forever;
# renewing means re-pinning at every peer, so it is measured in years.
DEFAULT_VALIDITY_DAYS = 3 * 365
_SIGNATURE_DOMAIN = b"casebridge-signature-v1"
_LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
_WILDCARD_HOSTS = {"0.0.0.0", "::", ""}  # noqa: S104  (names, not a bind)


def validate_agency_code(code: str) -> str:
    """The code itself if it is well formed (``NL-NP``, ``DE-BKA``, ``RO-DIICOT``), else a CryptoUsageError."""
    if not AGENCY_CODE.fullmatch(code):
        raise CryptoUsageError(
            f"{code!r} is not an agency code: expected two capital letters, a dash and 2-12 capitals "
            "or digits, e.g. NL-NP, DE-BKA, RO-DIICOT"
        )
    return code


@dataclass(frozen=True, repr=False)
class NodeIdentity:
    """A freshly created key and certificate, both PEM-encoded. ``key_pem`` is secret."""

    key_pem: bytes
    cert_pem: bytes

    def __repr__(self) -> str:
        return "NodeIdentity(key_pem=<secret>, cert_pem=...)"


def loopback_names(host: str) -> list[str]:
    """The SAN names a certificate for a node listening on ``host`` should carry.

    Loopback and wildcard listeners get ``localhost``, 127.0.0.1 and ::1 so local peers and tests can verify
    the server name; any other host is carried as given.
    """
    names: list[str] = []
    bare = host.strip("[]")
    is_loopback = bare == "localhost" or bare in _WILDCARD_HOSTS
    with contextlib.suppress(ValueError):
        is_loopback = is_loopback or ipaddress.ip_address(bare).is_loopback
    if is_loopback:
        names.extend(_LOOPBACK_NAMES)
    if bare not in _WILDCARD_HOSTS and bare not in names:
        names.append(bare)
    return names


def _san_entry(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def create_identity(
    agency: str,
    hosts: Iterable[str],
    now: datetime,
    validity_days: int = DEFAULT_VALIDITY_DAYS,
) -> NodeIdentity:
    """A new P-256 key and a self-signed certificate for ``agency`` valid for the names in ``hosts``.

    ``now`` (timezone-aware) is passed in so this module never reads the clock; the certificate is valid from
    one hour before it, to tolerate small clock differences between agencies.
    """
    validate_agency_code(agency)
    if now.tzinfo is None:
        raise CryptoUsageError("the certificate start time must be timezone-aware")
    names = _distinct_names(hosts)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _self_signed_certificate(key, agency, names, now, validity_days)
    return NodeIdentity(key_pem=_private_key_pem(key), cert_pem=certificate_pem(cert))


def _distinct_names(hosts: Iterable[str]) -> list[str]:
    """The non-empty ``hosts`` in order, each once; a CryptoUsageError if none is left."""
    names: list[str] = []
    for host in hosts:
        if host and host not in names:
            names.append(host)
    if not names:
        raise CryptoUsageError("a node certificate needs at least one host name or address")
    return names


# Signing (TLS handshakes, disclosure releases) and, as its own root, signing its certificate; nothing else.
_KEY_USAGE = x509.KeyUsage(
    digital_signature=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=True,
    crl_sign=False,
    encipher_only=False,
    decipher_only=False,
)


def _self_signed_certificate(
    key: ec.EllipticCurvePrivateKey,
    agency: str,
    names: list[str],
    now: datetime,
    validity_days: int,
) -> x509.Certificate:
    """The node's own root: subject and issuer name the agency, the SANs carry its URI and ``names``."""
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, agency),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "casebridge node"),
        ]
    )
    sans: list[x509.GeneralName] = [x509.UniformResourceIdentifier(AGENCY_URI_PREFIX + agency)]
    sans.extend(_san_entry(name) for name in names)
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=validity_days))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_KEY_USAGE, critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )


def _private_key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        # gRPC loads the key unencrypted; the file's owner-only mode protects it.
        serialization.NoEncryption(),
    )


def load_certificate(pem: bytes) -> x509.Certificate:
    """The first certificate in ``pem``; a CryptoUsageError if there is none or it does not parse."""
    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError:
        raise CryptoUsageError("not a PEM-encoded X.509 certificate") from None


def certificate_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def load_private_key(pem: bytes) -> ec.EllipticCurvePrivateKey:
    """A node key (unencrypted PKCS#8 PEM, P-256); a CryptoUsageError naming no key material otherwise."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        raise CryptoUsageError("not an unencrypted PEM private key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise CryptoUsageError("the node key must be an ECDSA P-256 key")
    return key


def agency_of(cert: x509.Certificate) -> str:
    """The agency code a certificate carries: its SAN URI, else its subject CN. A CryptoUsageError if neither."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        uris: list[str] = []
    else:
        uris = list(san.get_values_for_type(x509.UniformResourceIdentifier))
    codes = [uri[len(AGENCY_URI_PREFIX) :] for uri in uris if uri.startswith(AGENCY_URI_PREFIX)]
    if len(codes) > 1:
        raise CryptoUsageError("the certificate names more than one agency")
    if not codes:
        codes = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    if len(codes) != 1 or not AGENCY_CODE.fullmatch(codes[0]):
        raise CryptoUsageError(
            f"the certificate carries no agency code (SAN URI {AGENCY_URI_PREFIX}<CODE> or subject CN)"
        )
    return codes[0]


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the DER encoding as upper-case hex pairs joined by colons (``AB:CD:...``)."""
    digest = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def _plain_hex(value: str) -> str:
    return value.replace(":", "").strip().lower()


def same_fingerprint(a: str, b: str) -> bool:
    """Whether two fingerprints (colon-separated or plain hex, any case) name the same certificate."""
    return hmac.compare_digest(_plain_hex(a).encode(), _plain_hex(b).encode())


def _signed_message(context: str, data: bytes) -> bytes:
    label = context.encode()
    return _SIGNATURE_DOMAIN + len(label).to_bytes(2, "big") + label + data


def sign(key: ec.EllipticCurvePrivateKey, context: str, data: bytes) -> bytes:
    """An ECDSA P-256 / SHA-256 signature (DER) over ``data`` bound to ``context``."""
    if not context:
        raise CryptoUsageError("a signature needs a context label")
    return key.sign(_signed_message(context, data), ec.ECDSA(hashes.SHA256()))


def verify(cert: x509.Certificate, context: str, data: bytes, signature: bytes) -> None:
    """Return if ``signature`` over ``data`` under ``context`` verifies with the certificate's key.

    Any failure -- another key type, a malformed signature, other data or context -- raises the single
    opaque :class:`~crypto.errors.InvalidSignature`.
    """
    public = cert.public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey) or not isinstance(public.curve, ec.SECP256R1):
        raise InvalidSignature()
    try:
        public.verify(signature, _signed_message(context, data), ec.ECDSA(hashes.SHA256()))
    except (_CryptographyInvalidSignature, ValueError):
        raise InvalidSignature() from None
