"""``casebridge disclose``: the follow-up after a hit -- request, decide, release."""

from __future__ import annotations

import click
from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from node.cli.app import CliContext, emit_json, main
from node.disclosure import HANDLING_CODES, HANDLING_MEANING, RELEASABLE_FIELDS, SAFEGUARDING_NOTE, Disclosure
from node.ops import disclosure as ops_disclosure

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
    sent = ops_disclosure.request(obj.ops(), alert_id, purpose, legal_basis, handling)
    note = " (it already had it)" if sent.duplicate else ""
    click.echo(f"disclosure {sent.disclosure.id}: request sent to {sent.peer}{note}; waiting for its decision")


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
    found = ops_disclosure.list_all(obj.ops(), direction, status)
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
    d = ops_disclosure.show(obj.ops(), disclosure_id)
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
    chosen = [f.strip() for f in fields.split(",") if f.strip()]
    sent = ops_disclosure.approve(obj.ops(), disclosure_id, chosen)
    d = sent.disclosure
    marker = " with the safeguarding marker (a victim is named)" if d.safeguarding else ""
    click.echo(f"disclosure {d.id}: released {','.join(d.fields)} to {sent.peer} under {d.handling}{marker}")


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
    sent = ops_disclosure.deny(obj.ops(), disclosure_id, reason)
    click.echo(f"disclosure {disclosure_id}: denied; {sent.peer} was told the reason")


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
    sent = ops_disclosure.deliver(obj.ops(), disclosure_id)
    d = sent.disclosure
    if d.direction == "outgoing":
        click.echo(f"disclosure {disclosure_id}: request delivered to {sent.peer}")
    else:
        click.echo(f"disclosure {disclosure_id}: {d.status} decision delivered to {sent.peer}")
