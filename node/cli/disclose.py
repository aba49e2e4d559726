"""``casebridge disclose``: the follow-up after a hit -- request, decide, release."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from sqlite_utils import Database

from crypto.certificates import load_private_key, sign
from node.cli.app import CliContext, emit_json, main
from node.config.settings import load_config
from node.core.clock import now, now_iso
from node.core.errors import LocalError, PeerFailed
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
    mark_delivery,
    prepare_request,
    record_approval,
    record_denial,
    record_outgoing,
    record_owner_refusal,
    stored_decision,
    stored_request,
)
from node.net.disclosure_client import deliver_denial, deliver_release, find_peer, send_request
from node.store import open_database, transaction
from proto.casebridge.v1 import casebridge_pb2 as pb

__all__ = ["disclose"]

_R = TypeVar("_R")

DEFAULT_FIELDS = "title,summary,contact"


@main.group()
def disclose() -> None:
    """Ask a matched agency for the details of its case, or decide on what others ask of us.

    \b
    Example:
      casebridge disclose request 12 --purpose "joint investigation" --legal-basis "EU 2016/794 art. 18"
      casebridge disclose approve 3 --fields title,summary,persons
    """


def _deliver(
    db: Database, disclosure_id: int, peer: str, call: Coroutine[Any, Any, _R], *, refusable: bool = False
) -> _R:
    """Send a step that is already recorded, and record whether it arrived.

    Unreachable peer: the step stays recorded as not delivered, and 'disclose deliver' sends it again. A
    request the owner refuses outright is closed as refused (only requests can be refused that way).
    """
    try:
        reply = asyncio.run(call)
    except PeerFailed as exc:
        refused = refusable and not exc.transient
        with transaction(db):
            if refused:
                record_owner_refusal(db, disclosure_id, str(exc), now_iso())
            else:
                mark_delivery(db, disclosure_id, now_iso(), error=str(exc))
        if refused:
            raise LocalError(f"disclosure {disclosure_id}: refused: {exc}") from None
        raise LocalError(
            f"disclosure {disclosure_id} is recorded but did not reach {peer}: {exc}. "
            f"Send it again with 'casebridge disclose deliver {disclosure_id}' once {peer} is reachable"
        ) from None
    with transaction(db):
        mark_delivery(db, disclosure_id, now_iso())
    return reply


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
    with transaction(db):
        disclosure_id = record_outgoing(db, request, now_iso())
    ack = _deliver(db, disclosure_id, peer.code, send_request(home, peer, request.to_wire()), refusable=True)
    note = " (it already had it)" if isinstance(ack, pb.DisclosureAck) and ack.duplicate else ""
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
    if not d.delivered:
        console.print(Text(f"not delivered yet: {d.delivery_error}; send it with 'casebridge disclose deliver {d.id}'"))
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
@click.option("--status", type=click.Choice(["pending", "approved", "denied", "refused"]), default=None)
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
            d.status if d.delivered else f"{d.status}, not delivered",
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

    Persons are released only when named. The approval is recorded and audited before the release is
    sent; if the requester's node cannot be reached, 'casebridge disclose deliver' sends it again.

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
    with transaction(db):
        d = record_approval(db, disclosure_id, release, payload, signature, now_iso())
    _deliver(
        db,
        disclosure_id,
        peer.code,
        deliver_release(home, peer, pb.SignedRelease(release=payload, signature=signature)),
    )
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
    peer = find_peer(config, d.peer)
    with transaction(db):
        record_denial(db, disclosure_id, reason, now_iso())
    _deliver(db, disclosure_id, d.peer, deliver_denial(home, peer, denial))
    click.echo(f"disclosure {disclosure_id}: denied; {d.peer} was told the reason")


@disclose.command("deliver")
@click.argument("disclosure_id", type=int)
@click.pass_obj
def disclose_deliver(obj: CliContext, disclosure_id: int) -> None:
    """Send again a request, release or denial that did not reach the other agency.

    Sending twice is safe: the other node recognises what it already holds.

    \b
    Example:
      casebridge disclose deliver 3
    """
    home = obj.node()
    config = load_config(home)
    db = open_database(home)
    d = get_disclosure(db, disclosure_id)
    if d.delivered:
        raise LocalError(f"disclosure {disclosure_id} has nothing waiting to be delivered")
    peer = find_peer(config, d.peer)
    if d.direction == "outgoing":
        request = stored_request(db, disclosure_id)
        _deliver(db, disclosure_id, peer.code, send_request(home, peer, request.to_wire()), refusable=True)
        click.echo(f"disclosure {disclosure_id}: request delivered to {peer.code}")
        return
    decision = stored_decision(db, disclosure_id)
    if isinstance(decision, pb.SignedRelease):
        _deliver(db, disclosure_id, peer.code, deliver_release(home, peer, decision))
    else:
        _deliver(db, disclosure_id, peer.code, deliver_denial(home, peer, decision))
    click.echo(f"disclosure {disclosure_id}: {d.status} decision delivered to {peer.code}")
