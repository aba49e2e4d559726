"""``casebridge peers``: pin, list and remove peer agencies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.table import Table

from node.cli.app import CliContext, emit_json, fail, main, print_table
from node.config.settings import Peer
from node.ops import peers as ops_peers
from node.ops.peers import PolicyChange

__all__ = ["peers"]


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
@click.option(
    "--types", default=None, help="Key types shared with this peer, comma-separated. Default: policy (strong types)."
)
@click.option("--max-set-size", type=click.IntRange(min=1), default=None, help="Most keys per session.")
@click.option("--daily-quota", type=click.IntRange(min=1), default=None, help="Most keys in any 24 hours.")
@click.option(
    "--daily-work", type=click.IntRange(min=1), default=None, help="Most of our keys blinded for it in 24 hours."
)
@click.option("--epoch", default=None, help='Days a key epoch with it lasts (1 to 90), or "none": full sessions only.')
@click.option(
    "--daily-delta-quota", type=click.IntRange(min=1), default=None, help="Most keys in its delta sessions in 24 hours."
)
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
    daily_work: int | None,
    epoch: str | None,
    daily_delta_quota: int | None,
    skip_existing: bool,
) -> None:
    """Pin peer agency CODE: copy its certificate into the home and record its fingerprint.

    Give either CODE with --address and --cert, or the peer's identity bundle with --bundle (CODE and
    --address may still be given: CODE must then match, --address overrides the bundle's). Compare the
    printed fingerprint with the one the peer reads out from 'casebridge identity' over another channel
    before relying on it. Options left out follow the [policy] table of the config; without one, a new
    peer shares only the strong key types, at most 200,000 keys a session and 1,000,000 in any 24 hours.
    The policy the peer gets is printed.

    \b
    Example:
      casebridge peers add RO-DIICOT --address [2001:db8::7]:7443 --cert ./RO-DIICOT.crt \\
          --types phone,passport,iban --max-set-size 500000 --daily-quota 2000000
      casebridge peers add --bundle ./DE-BKA.bundle --types phone,passport
    """
    ops = obj.ops()
    if bundle_file is not None:
        if cert_file is not None:
            fail("peers add: give either --bundle or --cert, not both")
        given = ops_peers.source_from_bundle(ops, bundle_file, code, address)
    else:
        if code is None or address is None or cert_file is None:
            fail("peers add: give CODE with --address and --cert, or --bundle FILE")
            return
        given = ops_peers.source_from_file(code, address, cert_file)
    policy = PolicyChange(types, max_set_size, daily_quota, daily_work, epoch, daily_delta_quota)
    outcome = ops_peers.pin(ops, given, policy, skip_existing=skip_existing)
    peer = outcome.peer
    if outcome.already_pinned:
        click.echo(f"{peer.code} is already pinned with this certificate; nothing changed")
        if peer.address != outcome.asked_address:
            click.echo(
                f"note: {peer.code} stays at {peer.address}, not {outcome.asked_address}; to move it, run "
                f"'casebridge peers remove {peer.code}' and add it again",
                err=True,
            )
    else:
        click.echo(f"pinned {peer.code} at {outcome.asked_address}")
    click.echo(f"fingerprint {peer.fingerprint}")
    click.echo(f"policy: {_policy_line(peer)}")


def _policy_line(peer: Peer) -> str:
    policy = peer.policy
    return (
        f"key types {', '.join(policy.key_types)}; at most {policy.max_set_size:,} keys per session and "
        f"{policy.daily_quota:,} in any 24 hours ({policy.daily_delta_quota:,} in delta sessions); "
        f"{policy.daily_work:,} of our keys blinded for it in 24 hours; "
        + (
            "full sessions only (no key epochs)"
            if policy.epoch_days is None
            else f"key epochs of {policy.epoch_days} days"
        )
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
        "daily_work": peer.policy.daily_work,
        "epoch": "none" if peer.policy.epoch_days is None else peer.policy.epoch_days,
        "daily_delta_quota": peer.policy.daily_delta_quota,
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
    found = ops_peers.list_peers(obj.ops())
    if as_json:
        emit_json([_as_json(peer) for peer in found])
        return
    if not found:
        click.echo("no peers; add one with 'casebridge peers add'")
        return
    table = Table()
    for column in ("code", "address", "key types", "max set size", "daily quota", "fingerprint"):
        table.add_column(column)
    for peer in found:
        table.add_row(
            peer.code,
            str(peer.address),
            ", ".join(peer.policy.key_types),
            f"{peer.policy.max_set_size:,}",
            f"{peer.policy.daily_quota:,}",
            peer.fingerprint,
        )
    print_table(table)


@peers.command("remove")
@click.argument("code")
@click.pass_obj
def peers_remove(obj: CliContext, code: str) -> None:
    """Stop matching with peer CODE and delete its pinned certificate.

    \b
    Example:
      casebridge peers remove DE-BKA
    """
    removed = ops_peers.remove(obj.ops(), code)
    click.echo(f"removed {removed.code}")


@peers.command("update")
@click.argument("code")
@click.option("--address", default=None, help="New HOST:PORT of the peer's node.")
@click.option("--types", default=None, help="Key types shared with this peer, comma-separated.")
@click.option("--max-set-size", type=click.IntRange(min=1), default=None, help="Most keys per session.")
@click.option("--daily-quota", type=click.IntRange(min=1), default=None, help="Most keys in any 24 hours.")
@click.option(
    "--daily-work", type=click.IntRange(min=1), default=None, help="Most of our keys blinded for it in 24 hours."
)
@click.option("--epoch", default=None, help='Days a key epoch with it lasts (1 to 90), or "none": full sessions only.')
@click.option(
    "--daily-delta-quota", type=click.IntRange(min=1), default=None, help="Most keys in its delta sessions in 24 hours."
)
@click.option("--default-policy", is_flag=True, help="Drop this peer's own policy values; follow [policy].")
@click.pass_obj
def peers_update(
    obj: CliContext,
    code: str,
    address: str | None,
    types: str | None,
    max_set_size: int | None,
    daily_quota: int | None,
    daily_work: int | None,
    epoch: str | None,
    daily_delta_quota: int | None,
    default_policy: bool,
) -> None:
    """Change peer CODE's address or policy; the pinned certificate stays as it is.

    A serving node applies the change to the next session without a restart. The change is audited.

    \b
    Example:
      casebridge peers update DE-BKA --types phone,passport,iban --daily-quota 500000
      casebridge peers update RO-DIICOT --epoch none
    """
    change = PolicyChange(types, max_set_size, daily_quota, daily_work, epoch, daily_delta_quota)
    updated = ops_peers.update(obj.ops(), code, change, address=address, default_policy=default_policy)
    click.echo(f"{code} at {updated.address}: {_policy_line(updated)}")


@peers.command("check")
@click.argument("codes", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array, one object per peer.")
@click.pass_obj
def peers_check(obj: CliContext, codes: tuple[str, ...], as_json: bool) -> None:
    """Check each pinned certificate (default: every peer): readable, not expired, the one pinned.

    Exit 1 if any peer fails the check; each failure says what is wrong.

    \b
    Example:
      casebridge peers check
      casebridge peers check DE-BKA --json
    """
    results = ops_peers.check(obj.ops(), codes)
    if as_json:
        emit_json([r.as_json() for r in results])
    elif not results:
        click.echo("no peers; add one with 'casebridge peers add'")
    for r in results:
        if not as_json:
            click.echo(f"{r.code}: {'ok' if r.problem is None else r.problem} (valid until {r.not_after or '?'})")
    if any(r.problem is not None for r in results):
        raise SystemExit(1)
