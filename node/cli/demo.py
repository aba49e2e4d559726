"""``casebridge demo``: three agencies on loopback, end to end."""

from __future__ import annotations

import signal
import tempfile
import threading
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from node.cli.app import main
from node.core.clock import monotonic
from node.demo.console import serve_console
from node.demo.tour import DemoNode, run_demo
from node.net.local import LoopThread

__all__ = ["demo"]


@main.command()
@click.option(
    "--dir",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to keep the three node homes (default: a new folder under the system temp dir).",
)
@click.option(
    "--console/--no-console",
    default=True,
    show_default=True,
    help="At the end, open NL-NP's analyst console (URL and demo logins printed) until Ctrl-C.",
)
def demo(folder: Path | None, console: bool) -> None:
    """Run three agencies (NL-NP, DE-BKA, RO-DIICOT) on loopback: import, match, alerts, one disclosure.

    The nodes speak gRPC over mutual TLS with each other exactly as deployed nodes do. At the end NL-NP's
    analyst console opens in the browser of your choice (the URL and two demo logins are printed) while the
    nodes keep serving; Ctrl-C stops them. The homes stay in the folder printed at the end, so you can keep
    exploring with the CLI.

    \b
    Example:
      casebridge demo --dir /tmp/casebridge-demo --no-console
    """
    if folder is not None and folder.exists() and any(folder.iterdir()):
        raise click.ClickException(f"{folder} is not empty; choose a new folder for the demo")
    chosen = folder or Path(tempfile.mkdtemp(prefix="casebridge-demo-"))
    out = Console()
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
        out.print(table)

    def say(text: str) -> None:
        out.print(text, highlight=False)

    def linger(loop: LoopThread, nodes: list[DemoNode]) -> None:
        serve_console(loop, nodes[0], say, _until_stopped)

    run_demo(chosen, say, show, linger if console else None)
    out.print(f"\nDone in {monotonic() - started:.1f} s. The node homes are in {chosen}:")
    for code in ("nl-np", "de-bka", "ro-diicot"):
        out.print(f"  casebridge --home {chosen / code} alerts list")
    out.print(f"Serve a node again with: casebridge --home {chosen / 'nl-np'} serve", highlight=False)


def _until_stopped() -> None:
    """Block until Ctrl-C or SIGTERM; from then on both only repeat the request to stop."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
