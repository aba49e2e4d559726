"""``casebridge disclose``: the follow-up after a hit -- request, decide, release."""

from __future__ import annotations

import asyncio

import click
from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from crypto.certificates import load_private_key, sign
from node.cli.app import CliContext, emit_json, main
from node.clock import now, now_iso
from node.config import load_config
from node.disclosure import (
    HANDLING_CODES,
    HANDLING_MEANING,
    RELEASABLE_FIELDS,
    RELEASE_CONTEXT,
    SAFEGUARDING_NOTE,
    Disclosure,
    build_release,
    denial_for,
    get_disclosure,
    list_disclosures,
    prepare_request,
    record_approval,
    record_denial,
    record_outgoing,
)
from node.net.disclosure_client import deliver_denial, deliver_release, find_peer, send_request
from node.store import open_database, transaction
from proto.casebridge.v1 import casebridge_pb2 as pb

__all__ = ["disclose"]

DEFAULT_FIELDS = "title,summary,contact"


@main.group()
def disclose() -> None:
    """Ask a matched agency for the details of its case, or decide on what others ask of us.

    \b
    Example:
      casebridge disclose request 12 --purpose "joint investigation" --legal-basis "EU 2016/794 art. 18"
      casebridge disclose approve 3 --fields title,summary,persons
    """


@disclose.command("request")
@click.argument("alert_id", type=int)
@click.option("--purpose", required=True, help="Why the details are needed.")
@click.option("--legal-basis", required=True, help="The legal basis for the request.")
@click.option(
    "--handling",
    type=click.Choice(HANDLING_CODES),
    default="H2",
    show_default=True,
    help="How we will handle what is released (H0 least restricted, H3 most).",
)
@click.pass_obj
def disclose_request(obj: CliContext, alert_id: int, purpose: str, legal_basis: str, handling: str) -> None:
    """Send a request about ALERT_ID to the agency it matched (only the match handle is sent).

    \b
    Example:
      casebridge disclose request 12 --purpose "locate victim" --legal-basis "national CCP art. 126" \\
        --handling H1
    """
    home = obj.node()
    config = load_config(home)
    db = open_database(home)
    request = prepare_request(db, alert_id, purpose, legal_basis, handling)
    peer = find_peer(config, request.peer)
    ack = asyncio.run(send_request(home, peer, request.to_wire()))
    with transaction(db):
        disclosure_id = record_outgoing(db, request, now_iso())
    note = " (it already had it)" if ack.duplicate else ""
    click.echo(f"disclosure {disclosure_id}: request sent to {peer.code}{note}; waiting for its decision")


def _show(d: Disclosure) -> None:
    # Purpose, legal basis, reasons and released fields are another agency's words: printed as plain text,
    # never as console markup, so they cannot restyle or fake the lines around them.
    console = Console(highlight=False)
    who = "to" if d.direction == "outgoing" else "from"
    console.print(f"[bold]disclosure {d.id}[/bold]  {d.direction} {who} {d.peer}  [bold]{d.status}[/bold]")
    if d.direction == "outgoing":
        console.print(f"our alert {d.alert_id}")
    elif d.case_ref:
        console.print(Text(f"about our case {d.case_ref}"))
    console.print(Text(f"purpose: {d.purpose}"))
    console.print(Text(f"legal basis: {d.legal_basis}"))
    console.print(f"handling {d.handling}: {HANDLING_MEANING[d.handling]}")
    if d.reason:
        console.print(Text(f"reason given: {d.reason}"))
    if d.safeguarding:
        console.print(Panel(SAFEGUARDING_NOTE, style="bold red"))
    if d.released is not None:
        table = Table(title=f"released fields (handling {d.handling})")
        table.add_column("field")
        table.add_column("value")
        for field, value in d.released.items():
            if field == "persons":
                text = "\n".join(f"{p['name']} ({p['dob'] or 'dob unknown'}), {p['role']}" for p in value)
            else:
                text = str(value)
            table.add_row(field, Text(text))
        console.print(table)


@disclose.command("list")
@click.option("--direction", type=click.Choice(["incoming", "outgoing"]), default=None)
@click.option("--status", type=click.Choice(["pending", "approved", "denied"]), default=None)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@click.pass_obj
def disclose_list(obj: CliContext, direction: str | None, status: str | None, as_json: bool) -> None:
    """List incoming and outgoing requests.

    \b
    Example:
      casebridge disclose list --direction incoming --status pending
    """
    found = list_disclosures(open_database(obj.node()), direction, status)
    if as_json:
        emit_json([d.as_json() for d in found])
        return
    table = Table(title="disclosures")
    for column in ("id", "direction", "peer", "about", "status", "handling", "safeguarding", "updated"):
        table.add_column(column)
    for d in found:
        table.add_row(
            str(d.id),
            d.direction,
            d.peer,
            f"our alert {d.alert_id}" if d.direction == "outgoing" else f"our case {d.case_ref}",
            d.status,
            d.handling,
            "VICTIM" if d.safeguarding else "",
            d.updated_at,
        )
    Console().print(table)


@disclose.command("show")
@click.argument("disclosure_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
@click.pass_obj
def disclose_show(obj: CliContext, disclosure_id: int, as_json: bool) -> None:
    """Show a request and, once released, the released fields with their handling code.

    \b
    Example:
      casebridge disclose show 3
    """
    d = get_disclosure(open_database(obj.node()), disclosure_id)
    if as_json:
        emit_json(d.as_json())
    else:
        _show(d)


@disclose.command("approve")
@click.argument("disclosure_id", type=int)
@click.option(
    "--fields",
    default=DEFAULT_FIELDS,
    show_default=True,
    help=f"Comma-separated fields to release, from {','.join(RELEASABLE_FIELDS)}.",
)
@click.pass_obj
def disclose_approve(obj: CliContext, disclosure_id: int, fields: str) -> None:
    """Release exactly FIELDS of our matched case, signed by this node, to the requester.

    Persons are released only when named. Nothing is recorded unless the requester's node accepted the
    release.

    \b
    Example:
      casebridge disclose approve 3 --fields title,summary,contact,persons
    """
    home = obj.node()
    config = load_config(home)
    db = open_database(home)
    chosen = [f.strip() for f in fields.split(",") if f.strip()]
    release = build_release(db, disclosure_id, chosen, our_agency=config.agency, now=now())
    payload = release.SerializeToString()
    signature = sign(load_private_key(home.tls_key.read_bytes()), RELEASE_CONTEXT, payload)
    peer = find_peer(config, release.requester_agency)
    asyncio.run(deliver_release(home, peer, pb.SignedRelease(release=payload, signature=signature)))
    with transaction(db):
        d = record_approval(db, disclosure_id, release, payload, signature, now_iso())
    marker = " with the safeguarding marker (a victim is named)" if d.safeguarding else ""
    click.echo(f"disclosure {d.id}: released {','.join(d.fields)} to {peer.code} under {d.handling}{marker}")


@disclose.command("deny")
@click.argument("disclosure_id", type=int)
@click.option("--reason", required=True, help="Told to the requester.")
@click.pass_obj
def disclose_deny(obj: CliContext, disclosure_id: int, reason: str) -> None:
    """Refuse a request and tell the requester why.

    \b
    Example:
      casebridge disclose deny 3 --reason "ongoing covert operation; ask again in June"
    """
    home = obj.node()
    config = load_config(home)
    db = open_database(home)
    denial = denial_for(db, disclosure_id, reason)
    d = get_disclosure(db, disclosure_id)
    asyncio.run(deliver_denial(home, find_peer(config, d.peer), denial))
    with transaction(db):
        record_denial(db, disclosure_id, reason, now_iso())
    click.echo(f"disclosure {disclosure_id}: denied; {d.peer} was told the reason")
