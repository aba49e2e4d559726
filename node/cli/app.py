"""The root command group, its global options and the error boundary."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from node.core.errors import EXPECTED_ERRORS, LocalError
from node.core.home import NodeHome
from node.ops import Operations, cli_actor

__all__ = ["CliContext", "emit_json", "fail", "main", "print_table"]

DEFAULT_HOME = Path.home() / ".casebridge"


@dataclass(frozen=True)
class CliContext:
    """What every command receives: the node home chosen by ``--home`` or ``CASEBRIDGE_HOME``."""

    home: Path

    def node(self) -> NodeHome:
        """The node home, which must exist: commands other than ``init`` never create one by accident."""
        home = NodeHome(self.home)
        if not home.config.is_file():
            raise LocalError(
                f"{self.home}: no casebridge node here (no casebridge.toml); check --home or CASEBRIDGE_HOME, "
                "or create a node with 'casebridge init'"
            )
        return home

    def ops(self) -> Operations:
        """The use cases, acting on the node home as the person at this terminal."""
        return Operations(NodeHome(self.node().root.absolute()), cli_actor())

    def ops_unchecked(self) -> Operations:
        """As :meth:`ops` without the existence check, for commands whose own errors say what is missing."""
        return Operations(NodeHome(self.home.absolute()), cli_actor())


class _Group(click.Group):
    """Turns project errors into a clean message and exit code 1 at the edge."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EXPECTED_ERRORS as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Node home (config, keys, database). Default: $CASEBRIDGE_HOME or ~/.casebridge.",
)
@click.version_option(package_name="casebridge")
@click.pass_context
def main(ctx: click.Context, home: Path | None) -> None:
    """casebridge: privacy-preserving case matching between agencies.

    \b
    Example:
      casebridge --home /srv/casebridge identity --json
    """
    chosen = home or Path(os.environ.get("CASEBRIDGE_HOME", "") or DEFAULT_HOME)
    ctx.obj = CliContext(home=chosen)


# Wide enough for any row: a table piped elsewhere keeps every value whole.
_PIPED_WIDTH = 100_000


def emit_json(value: Any) -> None:
    """Print one JSON document on stdout."""
    click.echo(json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False))


def print_table(table: Table) -> None:
    """A table on stdout: fitted to a terminal, never cut or wrapped when piped to a file or a program."""
    Console(width=None if sys.stdout.isatty() else _PIPED_WIDTH).print(table)


def fail(message: str) -> None:
    """Stop the command with a message a person can act on (stderr, exit 1)."""
    raise click.ClickException(message)


def argv_for_subprocess(args: Sequence[str]) -> list[str]:
    """The command line that runs this same CLI in a child process."""
    return [sys.executable, "-m", "node.cli", *args]
