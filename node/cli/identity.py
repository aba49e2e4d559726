"""``casebridge init`` and ``casebridge identity``: create a node home and show who this node is."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import click

from crypto.certificates import (
    create_identity,
    fingerprint,
    load_certificate,
    loopback_names,
    validate_agency_code,
)
from node.cli.app import CliContext, emit_json, fail, main
from node.config.bundle import bundle_of, render_bundle
from node.config.settings import (
    FEDERATION_NAME,
    Address,
    NodeConfig,
    initial_document,
    load_config,
    parse_address,
    write_new_config,
)
from node.core.errors import LocalError
from node.core.home import NodeHome

__all__ = ["identity", "init"]

_SECRET_BYTES = 32


def _write_private(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Create ``path`` with ``mode`` from the start, so a secret is never briefly readable by others."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(path, mode)  # the umask may have removed bits we asked for


def _refuse_existing(home: Path) -> None:
    if NodeHome(home).config.exists():
        fail(f"{home} already holds a node (casebridge.toml); refusing to overwrite it. Choose another --home.")
    if home.exists() and (not home.is_dir() or any(home.iterdir())):
        fail(f"{home} exists and is not an empty directory; refusing to use it as a node home")


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


@main.command()
@click.option("--agency", required=True, help="This agency's code, e.g. NL-NP (two letters, dash, 2-12).")
@click.option("--federation", required=True, help="The federation's name, the same at every member.")
@click.option("--listen", required=True, help="HOST:PORT this node serves on; IPv6 in brackets: [::1]:7443.")
@click.option(
    "--federation-secret",
    "secret_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="A federation secret file received from another member; without it a new secret is created.",
)
@click.option(
    "--san",
    "extra_names",
    multiple=True,
    help="Another DNS name or IP address peers use to reach this node (repeatable).",
)
@click.pass_obj
def init(
    obj: CliContext,
    agency: str,
    federation: str,
    listen: str,
    secret_file: Path | None,
    extra_names: tuple[str, ...],
) -> None:
    """Create a node home: config, TLS key and certificate, federation secret.

    The certificate is self-signed and carries the agency code; peers pin it. The first member of a
    federation lets init create the secret and hands the file to the others out of band; every other
    member passes that file with --federation-secret. The database is created on first use.

    \b
    Example:
      casebridge --home /srv/casebridge init --agency NL-NP --federation eu-tht --listen 0.0.0.0:7443 \\
          --san casebridge.politie.example --federation-secret ./federation.secret
    """
    validate_agency_code(agency)
    if not FEDERATION_NAME.fullmatch(federation):
        fail(f"--federation: {federation!r}: use letters, digits, '.', '_' or '-' (at most 64)")
    address = parse_address(listen)
    home = obj.home.absolute()
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
        node_identity = create_identity(agency, names, datetime.now(UTC))
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
    click.echo(f"created node {agency} of federation {federation} in {home}")
    click.echo(f"certificate {final.tls_cert} (valid for {', '.join(names)})")
    click.echo(f"fingerprint {fingerprint(cert)}")
    if created_secret:
        click.echo(
            f"created a new federation secret at {final.federation_secret}.\n"
            f"Every other agency of {federation} needs a copy of that file: hand it over out of band "
            "(in person or over a channel you already trust, never through casebridge), and they pass it "
            "to 'casebridge init --federation-secret FILE'."
        )
    else:
        click.echo(f"installed the federation secret at {final.federation_secret}")


def _write_bundle(home: NodeHome, config: NodeConfig, target: Path, address: Address | None) -> None:
    text = render_bundle(bundle_of(home, config, address))
    if str(target) == "-":
        click.echo(text, nl=False)
        return
    try:
        if target.exists() and target.read_text(encoding="utf-8") == text:
            # Rewriting an identical file would only disturb whoever watches it (and deploy reruns).
            click.echo(f"bundle {target} is up to date", err=True)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)
    except OSError as exc:
        raise LocalError(f"{target}: cannot write the identity bundle ({exc.strerror or type(exc).__name__})") from None
    click.echo(f"wrote identity bundle {target}", err=True)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option(
    "--bundle",
    "bundle_file",
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    default=None,
    help="Also write our identity bundle (agency, address, certificate, fingerprint) to FILE; '-': stdout.",
)
@click.option(
    "--advertise",
    default=None,
    help="HOST:PORT peers should dial, written into the bundle. Default: the listen address.",
)
@click.pass_obj
def identity(obj: CliContext, as_json: bool, bundle_file: Path | None, advertise: str | None) -> None:
    """Show this node's agency, address, certificate and its SHA-256 fingerprint.

    Give the certificate file to peers, or better the bundle written with --bundle (one file with the
    address and certificate, no secret); they compare the fingerprint with you by another channel before
    pinning it with 'casebridge peers add --bundle'.

    \b
    Example:
      casebridge identity --json
      casebridge identity --bundle NL-NP.bundle --advertise casebridge.politie.example:7443
    """
    home = NodeHome(obj.home.absolute())
    config = load_config(home)
    if bundle_file is not None:
        _write_bundle(home, config, bundle_file, parse_address(advertise) if advertise else None)
        if str(bundle_file) == "-":
            return
    try:
        cert = load_certificate(home.tls_cert.read_bytes())
    except OSError as exc:
        raise LocalError(
            f"{home.tls_cert}: cannot read the node certificate ({exc.strerror or type(exc).__name__})"
        ) from None
    result = {
        "agency": config.agency,
        "address": str(config.listen),
        "certificate": str(home.tls_cert),
        "fingerprint": fingerprint(cert),
    }
    if as_json:
        emit_json(result)
        return
    for key in ("agency", "address", "certificate", "fingerprint"):
        click.echo(f"{key:<12} {result[key]}")
