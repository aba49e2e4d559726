"""``casebridge peers``: pin, list and remove peer agencies."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from crypto.certificates import (
    agency_of,
    certificate_pem,
    fingerprint,
    load_certificate,
    same_fingerprint,
    validate_agency_code,
)
from node.cli.app import CliContext, emit_json, fail, main
from node.config.bundle import read_bundle
from node.config.settings import NodeConfig, Peer, load_config, parse_address, parse_key_types, update_config
from node.core.clock import now_iso
from node.core.errors import EXPECTED_ERRORS, LocalError
from node.core.home import NodeHome
from node.store import audit as audit
from node.store import open_database, transaction

__all__ = ["peers"]

PEERS_DIR = "peers"


def _peer_error(code: str, field: str, problem: str) -> LocalError:
    return LocalError(f"peer {code}: {field}: {problem}")


def _home(obj: CliContext) -> NodeHome:
    return NodeHome(obj.node().root.absolute())


@main.group()
def peers() -> None:
    """The peer agencies this node matches with, each pinned by its certificate.

    \b
    Example:
      casebridge peers add DE-BKA --address bka.example.de:7443 --cert DE-BKA.crt --types phone,passport
      casebridge peers list --json
    """


@peers.command("add")
@click.argument("code", required=False)
@click.option(
    "--bundle",
    "bundle_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The peer's identity bundle ('casebridge identity --bundle'); gives CODE, address and certificate.",
)
@click.option("--address", default=None, help="HOST:PORT of the peer's node; IPv6 in brackets.")
@click.option(
    "--cert",
    "cert_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The peer's node certificate (PEM), received from the peer; its agency code must be CODE.",
)
@click.option("--types", default=None, help="Key types shared with this peer, comma-separated. Default: policy.")
@click.option("--max-set-size", type=click.IntRange(min=1), default=None, help="Most keys per session.")
@click.option("--daily-quota", type=click.IntRange(min=1), default=None, help="Most keys per day.")
@click.option(
    "--skip-existing",
    is_flag=True,
    help="If CODE is already pinned with this same certificate, say so and change nothing (exit 0).",
)
@click.pass_obj
def peers_add(
    obj: CliContext,
    code: str | None,
    bundle_file: Path | None,
    address: str | None,
    cert_file: Path | None,
    types: str | None,
    max_set_size: int | None,
    daily_quota: int | None,
    skip_existing: bool,
) -> None:
    """Pin peer agency CODE: copy its certificate into the home and record its fingerprint.

    Give either CODE with --address and --cert, or the peer's identity bundle with --bundle (CODE and
    --address may still be given: CODE must then match, --address overrides the bundle's). Compare the
    printed fingerprint with the one the peer reads out from 'casebridge identity' over another channel
    before relying on it. Options left out follow the [policy] table of the config.

    \b
    Example:
      casebridge peers add RO-DIICOT --address [2001:db8::7]:7443 --cert ./RO-DIICOT.crt \\
          --types phone,passport,iban --max-set-size 500000 --daily-quota 2000000
      casebridge peers add --bundle ./DE-BKA.bundle --types phone,passport
    """
    home = _home(obj)
    config = load_config(home)
    if bundle_file is not None:
        if cert_file is not None:
            fail("peers add: give either --bundle or --cert, not both")
        bundle = read_bundle(bundle_file)
        if code is not None and code != bundle.agency:
            raise _peer_error(code, "--bundle", f"{bundle_file} is the bundle of {bundle.agency}")
        if bundle.federation != config.federation:
            raise _peer_error(
                bundle.agency,
                "--bundle",
                f"{bundle_file} belongs to federation {bundle.federation}, this node to {config.federation}",
            )
        code = bundle.agency
        address = address or str(bundle.address)
        pem, source = bundle.certificate_pem, str(bundle_file)
    else:
        if code is None or address is None or cert_file is None:
            fail("peers add: give CODE with --address and --cert, or --bundle FILE")
            return
        try:
            pem = cert_file.read_bytes()
        except OSError as exc:
            raise _peer_error(
                code, "--cert", f"cannot read {cert_file} ({exc.strerror or type(exc).__name__})"
            ) from None
        source = str(cert_file)
    assert code is not None and address is not None
    try:
        validate_agency_code(code)
    except LocalError as exc:
        raise _peer_error(code, "CODE", str(exc)) from None
    if code == config.agency:
        raise _peer_error(code, "CODE", "that is this node's own agency")
    try:
        parsed_address = parse_address(address)
    except LocalError as exc:
        raise _peer_error(code, "--address", str(exc)) from None
    try:
        cert = load_certificate(pem)
        carried = agency_of(cert)
    except EXPECTED_ERRORS as exc:
        raise _peer_error(code, "--cert", f"{source}: {exc}") from None
    existing = config.peer(code)
    if existing is not None:
        if skip_existing and same_fingerprint(existing.fingerprint, fingerprint(cert)):
            click.echo(f"{code} is already pinned with this certificate; nothing changed")
            if existing.address != parsed_address:
                click.echo(
                    f"note: {code} stays at {existing.address}, not {parsed_address}; to move it, run "
                    f"'casebridge peers remove {code}' and add it again",
                    err=True,
                )
            click.echo(f"fingerprint {existing.fingerprint}")
            return
        raise _peer_error(
            code,
            "CODE",
            f"already configured; change its policy or address with 'casebridge peers update {code}', or run "
            f"'casebridge peers remove {code}' first to pin another certificate",
        )
    entry: dict[str, Any] = {"address": str(parsed_address), **_policy_entry(code, types, max_set_size, daily_quota)}
    if carried != code:
        raise _peer_error(code, "--cert", f"{source} carries agency {carried}, not {code}")
    if cert.not_valid_after_utc <= datetime.now(UTC):
        raise _peer_error(code, "--cert", f"{source} expired on {cert.not_valid_after_utc:%Y-%m-%d}")
    relative = Path(PEERS_DIR) / f"{code}.crt"
    pinned = home.root / relative
    pinned.parent.mkdir(mode=0o700, exist_ok=True)
    tmp = pinned.with_name(f".{pinned.name}.tmp")
    tmp.write_bytes(certificate_pem(cert))
    os.replace(tmp, pinned)
    entry["certificate"] = str(relative)
    entry["fingerprint"] = fingerprint(cert)

    def add(document: dict[str, Any]) -> None:
        document.setdefault("peers", {})[code] = entry

    try:
        config = update_config(home, add)
    except BaseException:
        pinned.unlink(missing_ok=True)
        raise
    added = config.peer(code)
    if added is not None:
        _audit_policy(home, "policy.peer-added", added)
    click.echo(f"pinned {code} at {parsed_address}")
    click.echo(f"fingerprint {entry['fingerprint']}")


def _policy_entry(code: str, types: str | None, max_set_size: int | None, daily_quota: int | None) -> dict[str, Any]:
    """The peer's own policy values given on the command line, as config fields (absent ones left out)."""
    entry: dict[str, Any] = {}
    if types is not None:
        try:
            entry["key_types"] = list(parse_key_types(types))
        except LocalError as exc:
            raise _peer_error(code, "--types", str(exc)) from None
    if max_set_size is not None:
        entry["max_set_size"] = max_set_size
    if daily_quota is not None:
        entry["daily_quota"] = daily_quota
    return entry


def _audit_policy(home: NodeHome, event: str, peer: Peer) -> None:
    """Pinning and policy changes belong in the audit log like the sessions they govern."""
    db = open_database(home)
    with transaction(db):
        audit.append(
            db,
            event,
            at=now_iso(),
            peer=peer.code,
            address=str(peer.address),
            fingerprint=peer.fingerprint,
            key_types=list(peer.policy.key_types),
            max_set_size=peer.policy.max_set_size,
            daily_quota=peer.policy.daily_quota,
        )


def _as_json(peer: Peer) -> dict[str, Any]:
    return {
        "code": peer.code,
        "address": str(peer.address),
        "certificate": str(peer.certificate),
        "fingerprint": peer.fingerprint,
        "types": list(peer.policy.key_types),
        "max_set_size": peer.policy.max_set_size,
        "daily_quota": peer.policy.daily_quota,
    }


@peers.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@click.pass_obj
def peers_list(obj: CliContext, as_json: bool) -> None:
    """List the configured peers with their effective policy.

    \b
    Example:
      casebridge peers list --json
    """
    config: NodeConfig = load_config(_home(obj))
    if as_json:
        emit_json([_as_json(peer) for peer in config.peers])
        return
    if not config.peers:
        click.echo("no peers; add one with 'casebridge peers add'")
        return
    table = Table()
    for column in ("code", "address", "key types", "max set size", "daily quota", "fingerprint"):
        table.add_column(column)
    for peer in config.peers:
        table.add_row(
            peer.code,
            str(peer.address),
            ", ".join(peer.policy.key_types),
            f"{peer.policy.max_set_size:,}",
            f"{peer.policy.daily_quota:,}",
            peer.fingerprint,
        )
    Console().print(table)


@peers.command("remove")
@click.argument("code")
@click.pass_obj
def peers_remove(obj: CliContext, code: str) -> None:
    """Stop matching with peer CODE and delete its pinned certificate.

    \b
    Example:
      casebridge peers remove DE-BKA
    """
    home = _home(obj)
    config = load_config(home)
    peer = config.peer(code)
    if peer is None:
        known = ", ".join(p.code for p in config.peers) or "none"
        fail(f"peer {code}: not configured (configured: {known})")
        return

    def remove(document: dict[str, Any]) -> None:
        document.get("peers", {}).pop(code, None)

    update_config(home, remove)
    _audit_policy(home, "policy.peer-removed", peer)
    pinned = peer.certificate
    if pinned.is_relative_to(home.root.resolve()):
        pinned.unlink(missing_ok=True)
    click.echo(f"removed {code}")


@peers.command("update")
@click.argument("code")
@click.option("--address", default=None, help="New HOST:PORT of the peer's node.")
@click.option("--types", default=None, help="Key types shared with this peer, comma-separated.")
@click.option("--max-set-size", type=click.IntRange(min=1), default=None, help="Most keys per session.")
@click.option("--daily-quota", type=click.IntRange(min=1), default=None, help="Most keys per day.")
@click.option("--default-policy", is_flag=True, help="Drop this peer's own policy values; follow [policy].")
@click.pass_obj
def peers_update(
    obj: CliContext,
    code: str,
    address: str | None,
    types: str | None,
    max_set_size: int | None,
    daily_quota: int | None,
    default_policy: bool,
) -> None:
    """Change peer CODE's address or policy; the pinned certificate stays as it is.

    A serving node applies the change to the next session without a restart. The change is audited.

    \b
    Example:
      casebridge peers update DE-BKA --types phone,passport,iban --daily-quota 500000
    """
    home = _home(obj)
    config = load_config(home)
    if config.peer(code) is None:
        known = ", ".join(p.code for p in config.peers) or "none"
        fail(f"peer {code}: not configured (configured: {known})")
    if address is None and types is None and max_set_size is None and daily_quota is None and not default_policy:
        fail(
            f"peer {code}: nothing to change; give --address, --types, --max-set-size, --daily-quota "
            "or --default-policy"
        )
    changes = _policy_entry(code, types, max_set_size, daily_quota)
    if address is not None:
        try:
            changes["address"] = str(parse_address(address))
        except LocalError as exc:
            raise _peer_error(code, "--address", str(exc)) from None

    def update(document: dict[str, Any]) -> None:
        entry = document["peers"][code]
        if default_policy:
            for field in ("key_types", "max_set_size", "daily_quota"):
                entry.pop(field, None)
        entry.update(changes)

    updated = update_config(home, update).peer(code)
    assert updated is not None
    _audit_policy(home, "policy.peer-changed", updated)
    policy = updated.policy
    click.echo(
        f"{code} at {updated.address}: key types {', '.join(policy.key_types)}; "
        f"at most {policy.max_set_size:,} keys per session and {policy.daily_quota:,} per day"
    )
