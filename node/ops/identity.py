"""This node's identity: create a node home (init), show who it is, write its identity bundle."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path

from crypto.certificates import create_identity, fingerprint, load_certificate, loopback_names, validate_agency_code
from node.config.bundle import bundle_of, render_bundle
from node.config.settings import FEDERATION_NAME, initial_document, parse_address, write_new_config
from node.core.clock import SYSTEM, Clock
from node.core.errors import LocalError
from node.core.home import NodeHome
from node.ops.context import Operations

__all__ = ["Identity", "Initialised", "bundle_text", "init", "show", "write_bundle"]

_SECRET_BYTES = 32


@dataclass(frozen=True)
class Identity:
    agency: str
    address: str
    certificate: str
    fingerprint: str

    def as_json(self) -> dict[str, str]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Initialised:
    home: NodeHome
    agency: str
    federation: str
    names: tuple[str, ...]  # what the certificate is valid for
    fingerprint: str
    created_secret: bool  # False: the given federation secret was installed


def _write_private(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Create ``path`` with ``mode`` from the start, so a secret is never briefly readable by others."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(path, mode)  # the umask may have removed bits we asked for


def _refuse_existing(home: Path) -> None:
    if NodeHome(home).config.exists():
        raise LocalError(
            f"{home} already holds a node (casebridge.toml); refusing to overwrite it. Choose another --home."
        )
    if home.exists() and (not home.is_dir() or any(home.iterdir())):
        raise LocalError(f"{home} exists and is not an empty directory; refusing to use it as a node home")


def _certificate_names(host: str, extra: tuple[str, ...]) -> list[str]:
    names = loopback_names(host)
    if host in {"0.0.0.0", "::"}:  # noqa: S104  (a listen address, compared, not bound)
        # Listening everywhere: peers reach us under this machine's name unless --san says otherwise.
        names.append(socket.gethostname())
    names.extend(extra)
    return list(dict.fromkeys(names))


def _install_secret(staged: NodeHome, given: Path | None) -> bool:
    """Put the federation secret into the staged home; whether it was newly created."""
    if given is None:
        _write_private(staged.federation_secret, (os.urandom(_SECRET_BYTES).hex() + "\n").encode())
        return True
    try:
        data = given.read_bytes()
    except OSError as exc:
        raise LocalError(f"{given}: cannot read the federation secret ({exc.strerror or type(exc).__name__})") from None
    _write_private(staged.federation_secret, data)
    try:
        secret = staged.read_federation_secret()
    except LocalError as exc:
        # Name the operator's file, not the staging copy.
        raise LocalError(str(exc).replace(str(staged.federation_secret), str(given))) from None
    staged.federation_secret.unlink()
    _write_private(staged.federation_secret, (secret.hex() + "\n").encode())
    return False


def init(
    home: Path,
    agency: str,
    federation: str,
    listen: str,
    *,
    secret_file: Path | None = None,
    extra_names: tuple[str, ...] = (),
    clock: Clock = SYSTEM,
) -> Initialised:
    """Create a node home: config, TLS key and self-signed certificate, federation secret; all or nothing."""
    validate_agency_code(agency)
    if not FEDERATION_NAME.fullmatch(federation):
        raise LocalError(f"--federation: {federation!r}: use letters, digits, '.', '_' or '-' (at most 64)")
    address = parse_address(listen)
    home = home.absolute()
    _refuse_existing(home)
    home.parent.mkdir(parents=True, exist_ok=True)
    # Build the home beside its final place and rename it in, so a failure leaves no half-made node.
    staging = Path(tempfile.mkdtemp(prefix=f".{home.name}.init-", dir=home.parent))
    try:
        staged = NodeHome(staging)
        os.chmod(staging, 0o700)
        created_secret = _install_secret(staged, secret_file)
        staged.tls_dir.mkdir(mode=0o700)
        names = _certificate_names(address.host, extra_names)
        node_identity = create_identity(agency, names, clock.now())
        _write_private(staged.tls_key, node_identity.key_pem)
        _write_private(staged.tls_cert, node_identity.cert_pem, mode=0o644)
        write_new_config(staged, initial_document(agency, federation, address))
        if home.exists():
            home.rmdir()  # checked empty above
        staging.rename(home)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    final = NodeHome(home)
    cert = load_certificate(final.tls_cert.read_bytes())
    return Initialised(final, agency, federation, tuple(names), fingerprint(cert), created_secret)


def show(ops: Operations) -> Identity:
    """This node's agency, address, certificate file and the certificate's SHA-256 fingerprint."""
    config = ops.config()
    try:
        cert = load_certificate(ops.home.tls_cert.read_bytes())
    except OSError as exc:
        raise LocalError(
            f"{ops.home.tls_cert}: cannot read the node certificate ({exc.strerror or type(exc).__name__})"
        ) from None
    return Identity(config.agency, str(config.listen), str(ops.home.tls_cert), fingerprint(cert))


def bundle_text(ops: Operations, advertise: str | None = None) -> str:
    """Our identity bundle (agency, address peers dial, certificate, fingerprint; no secret)."""
    return render_bundle(bundle_of(ops.home, ops.config(), parse_address(advertise) if advertise else None))


def write_bundle(ops: Operations, target: Path, advertise: str | None = None) -> bool:
    """Write the identity bundle to ``target``; False when the file already held exactly it."""
    text = bundle_text(ops, advertise)
    try:
        if target.exists() and target.read_text(encoding="utf-8") == text:
            # Rewriting an identical file would only disturb whoever watches it (and deploy reruns).
            return False
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)
    except OSError as exc:
        raise LocalError(f"{target}: cannot write the identity bundle ({exc.strerror or type(exc).__name__})") from None
    return True
