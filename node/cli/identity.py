"""``casebridge init`` and ``casebridge identity``: create a node home and show who this node is."""

from __future__ import annotations

from pathlib import Path

import click

from node.cli.app import CliContext, emit_json, main
from node.ops import identity as ops_identity

__all__ = ["identity", "init"]


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
    made = ops_identity.init(obj.home, agency, federation, listen, secret_file=secret_file, extra_names=extra_names)
    home, final, names = made.home.root, made.home, made.names
    click.echo(f"created node {agency} of federation {federation} in {home}")
    click.echo(f"certificate {final.tls_cert} (valid for {', '.join(names)})")
    click.echo(f"fingerprint {made.fingerprint}")
    if made.created_secret:
        click.echo(
            f"created a new federation secret at {final.federation_secret}.\n"
            f"Every other agency of {federation} needs a copy of that file: hand it over out of band "
            "(in person or over a channel you already trust, never through casebridge), and they pass it "
            "to 'casebridge init --federation-secret FILE'."
        )
    else:
        click.echo(f"installed the federation secret at {final.federation_secret}")


def _write_bundle(obj: CliContext, target: Path, advertise: str | None) -> None:
    ops = obj.ops_unchecked()
    if str(target) == "-":
        click.echo(ops_identity.bundle_text(ops, advertise), nl=False)
    elif ops_identity.write_bundle(ops, target, advertise):
        click.echo(f"wrote identity bundle {target}", err=True)
    else:
        click.echo(f"bundle {target} is up to date", err=True)


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
    if bundle_file is not None:
        _write_bundle(obj, bundle_file, advertise)
        if str(bundle_file) == "-":
            return
    result = ops_identity.show(obj.ops_unchecked()).as_json()
    if as_json:
        emit_json(result)
        return
    for key in ("agency", "address", "certificate", "fingerprint"):
        click.echo(f"{key:<12} {result[key]}")
