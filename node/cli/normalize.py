"""``casebridge normalize``: show the canonical form and match keys of one identifier or person."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from matcher.identifiers import (
    IDENTIFIER_TYPES,
    Identifier,
    InvalidIdentifier,
    Normalized,
    Person,
    normalize_identifier,
    normalize_person,
)
from node.cli.app import emit_json, main

__all__ = ["normalize"]

_TYPES = [*sorted(IDENTIFIER_TYPES), "person"]


@main.command("normalize")
@click.argument("type_", metavar="TYPE", type=click.Choice(_TYPES))
@click.argument("value")
@click.option("--region", default=None, help="Region for national phone formats (ISO 3166 alpha-2), e.g. NL.")
@click.option("--country", default=None, help="Issuing country of a passport, ID document or plate, e.g. ROU.")
@click.option("--platform", default=None, help="Social network of a handle, e.g. instagram.")
@click.option("--dob", default=None, help="Date of birth YYYY-MM-DD (TYPE person only).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def normalize(
    type_: str,
    value: str,
    region: str | None,
    country: str | None,
    platform: str | None,
    dob: str | None,
    as_json: bool,
) -> None:
    """Show how VALUE of TYPE is normalised and which match keys it gives.

    Keys are printed in clear: this runs on the local node and nothing leaves it. TYPE `person` takes
    the name as VALUE and the date of birth as --dob; without a date a name gives no keys.

    \b
    Example:
      casebridge normalize phone "06 1234 5678" --region NL
      casebridge normalize person "Иван Петров" --dob 1990-04-12 --json
    """
    result: Normalized
    if type_ == "person":
        result = normalize_person(Person(name=value, dob=dob))
    else:
        if dob is not None:
            raise InvalidIdentifier("dob", "--dob applies to TYPE person only")
        result = normalize_identifier(
            Identifier(type=type_, value=value, region=region, country=country, platform=platform)
        )
    if as_json:
        emit_json(
            {
                "type": result.type,
                "canonical": result.canonical,
                "keys": [{"key_type": k.key_type, "tier": k.tier.value, "value": k.value} for k in result.keys],
            }
        )
        return
    table = Table(title=f"{result.type}: {result.canonical}")
    table.add_column("key type")
    table.add_column("tier")
    table.add_column("value")
    for key in result.keys:
        table.add_row(key.key_type, key.tier.value, key.value)
    Console().print(table)
    if not result.keys:
        click.echo("no match keys (a person needs a full date of birth)")
