"""``casebridge demo``: three agencies on loopback, end to end."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from node.cli.app import main
from node.core.clock import monotonic
from node.demo.tour import run_demo

__all__ = ["demo"]


@main.command()
@click.option(
    "--dir",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to keep the three node homes (default: a new folder under the system temp dir).",
)
def demo(folder: Path | None) -> None:
    """Run three agencies (NL-NP, DE-BKA, RO-DIICOT) on loopback: import, match, alerts, one disclosure.

    The nodes speak gRPC over mutual TLS with each other exactly as deployed nodes do. The homes stay in the
    folder printed at the end, so you can keep exploring with the CLI.

    \b
    Example:
      casebridge demo --dir /tmp/casebridge-demo
    """
    if folder is not None and folder.exists() and any(folder.iterdir()):
        raise click.ClickException(f"{folder} is not empty; choose a new folder for the demo")
    chosen = folder or Path(tempfile.mkdtemp(prefix="casebridge-demo-"))
    console = Console()
    started = monotonic()

    def show(code: str, alerts: list[dict[str, Any]]) -> None:
        table = Table(title=f"{code}: {len(alerts)} alert(s)", title_justify="left")
        for column in ("id", "our case", "matched", "strongest key", "tier", "key types"):
            table.add_column(column)
        ordered = sorted(alerts, key=lambda a: (not a["case_ref"].startswith(code.split("-")[0] + "-2026"), a["id"]))
        for a in ordered[:10]:
            table.add_row(str(a["id"]), a["case_ref"], a["peer"], a["key_type"], a["tier"], ", ".join(a["key_types"]))
        if len(alerts) > 10:
            table.caption = f"and {len(alerts) - 10} more: casebridge --home {chosen / code.lower()} alerts list"
        console.print(table)

    run_demo(chosen, lambda text: console.print(text, highlight=False), show)
    console.print(f"\nDone in {monotonic() - started:.1f} s. The node homes are in {chosen}:")
    for code in ("nl-np", "de-bka", "ro-diicot"):
        console.print(f"  casebridge --home {chosen / code} alerts list")
    console.print(f"Serve a node again with: casebridge --home {chosen / 'nl-np'} serve", highlight=False)
