"""``casebridge match``: run PSI sessions with peers and record the alerts."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from matcher.psi import Mode, PsiSession
from node.cli.app import CliContext, emit_json, main
from node.config.settings import Peer
from node.ops import Operations
from node.ops.matching import PeerOutcome, match_peers

__all__ = ["match"]


async def _run(
    ops: Operations, codes: tuple[str, ...], mode: Mode, show_progress: bool, workers: int
) -> list[PeerOutcome]:
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[state]}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        disable=not show_progress,
        transient=False,
    )
    tasks: dict[str, TaskID] = {}

    def starting(peer: Peer) -> Callable[[PsiSession], None]:
        task = tasks[peer.code] = progress.add_task(peer.code, total=None, state="connecting")

        def update(session: PsiSession) -> None:
            progress.update(
                task,
                total=max(1, session.own_size + max(session.peer_size, 0)),
                completed=session.elements_sent + session.elements_received,
                state=session.state.value,
            )

        return update

    def finished(outcome: PeerOutcome) -> None:
        progress.update(tasks[outcome.peer], state=outcome.status, total=1, completed=1)

    with progress:
        return await match_peers(ops, codes, mode, workers, starting, finished)


@main.command()
@click.argument("peers", nargs=-1)
@click.option("--count-only", is_flag=True, help="Learn only how many keys match; record no alerts.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array, one object per peer.")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Threads that share the blinding (one core each); give a dedicated host's core count.",
)
@click.pass_obj
def match(obj: CliContext, peers: tuple[str, ...], count_only: bool, as_json: bool, workers: int) -> None:
    """Match our open cases with PEERS (default: every configured peer).

    Each side learns which of its own cases share a key with the other and records alerts for them; nothing
    else about the other's cases. With --count-only both sides learn only the number of shared keys.

    \b
    Example:
      casebridge match DE-BKA RO-DIICOT
      casebridge match --count-only --json
    """
    mode = Mode.COUNT_ONLY if count_only else Mode.MUTUAL
    outcomes = asyncio.run(_run(obj.ops(), peers, mode, not as_json and sys.stderr.isatty(), workers))
    if as_json:
        emit_json([o.as_json() for o in outcomes])
    else:
        table = Table(title=f"match ({mode.value})")
        for column in (
            "peer",
            "status",
            "our keys",
            "their keys",
            "matched keys",
            "new alerts",
            "gone",
            "seconds",
        ):
            table.add_column(column, justify="left" if column in ("peer", "status") else "right")
        for o in outcomes:
            table.add_row(
                o.peer,
                o.status,
                str(o.own_size),
                str(o.peer_size),
                str(o.intersection),
                "—" if o.new_alerts is None else str(o.new_alerts),
                "—" if o.gone_alerts is None else str(o.gone_alerts),
                f"{o.seconds:.1f}",
            )
        Console().print(table)
        for o in outcomes:
            if o.error:
                click.echo(o.error, err=True)
    if any(o.status != "completed" for o in outcomes):
        sys.exit(1)
