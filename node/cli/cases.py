"""``casebridge cases``: import a case file, list cases, close, reopen or delete a case."""

from __future__ import annotations

import sys
from pathlib import Path
from types import TracebackType

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from node.cli.app import CliContext, emit_json, main, print_table
from node.ops import cases as ops_cases

__all__ = ["ImportBar", "cases"]


class ImportBar:
    """Draws the import's phases on stderr; only when stderr is a terminal."""

    def __init__(self) -> None:
        self._progress = Progress(
            TextColumn("{task.description:<12}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._task: TaskID | None = None

    def __enter__(self) -> ImportBar:
        self._progress.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._progress.stop()

    def phase(self, name: str, total: int) -> None:
        if self._task is not None:
            self._progress.update(self._task, visible=False)
        self._task = self._progress.add_task(name, total=total)

    def advance(self, done: int) -> None:
        if self._task is not None:
            self._progress.advance(self._task, done)


@main.group()
def cases() -> None:
    """The agency's cases: import a case file, list cases, close, reopen or delete a case.

    \b
    Example:
      casebridge cases import cases.jsonl
      casebridge cases list --status open
    """


@cases.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "csv"]),
    default=None,
    help="Case file format. Default: from the extension (.jsonl/.ndjson/.json or .csv).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Processes that normalise and hash identifiers. Default: all cores.",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no summary line.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
@click.pass_obj
def import_(obj: CliContext, file: Path, fmt: str | None, workers: int | None, quiet: bool, as_json: bool) -> None:
    """Import every case of FILE, or none of them if any line is invalid.

    Cases already present (same case_ref) are replaced: fields updated, identifiers and persons swapped
    for the file's, so removed identifiers stop matching. A closed case stays closed. Errors name the
    file, line and field, never an identifier's value. The case file format is in docs/case-file.md.

    \b
    Example:
      casebridge cases import nl-cases.jsonl
      casebridge cases import export.csv --workers 2 --quiet
    """
    ops = obj.ops()
    show_bar = not quiet and not as_json and sys.stderr.isatty()
    if show_bar:
        with ImportBar() as bar:
            summary = ops_cases.import_file(ops, file, fmt, workers=workers, progress=bar)
    else:
        summary = ops_cases.import_file(ops, file, fmt, workers=workers)
    if as_json:
        emit_json(summary.as_json())
    elif not quiet:
        click.echo(ops_cases.import_line(file.name, summary))


@cases.command("list")
@click.option(
    "--status",
    type=click.Choice(["open", "closed", "all"]),
    default="all",
    show_default=True,
    help="Which cases to show.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@click.pass_obj
def list_(obj: CliContext, status: str, as_json: bool) -> None:
    """List cases with their counts of identifiers, persons and match keys.

    \b
    Example:
      casebridge cases list
      casebridge cases list --status open --json
    """
    rows = ops_cases.list_all(obj.ops(), "open" if status == "open" else "closed" if status == "closed" else "all")
    if as_json:
        emit_json([r.as_json() for r in rows])
        return
    if not rows:
        click.echo("no cases")
        return
    table = Table()
    for column in ("case_ref", "title", "status", "opened", "identifiers", "persons", "keys", "updated_at"):
        table.add_column(column, justify="right" if column in ("identifiers", "persons", "keys") else "left")
    for r in rows:
        table.add_row(
            r.case_ref, r.title, r.status, r.opened or "", str(r.identifiers), str(r.persons), str(r.keys),
            r.updated_at,
        )  # fmt: skip
    print_table(table)


@cases.command("close")
@click.argument("case_ref")
@click.pass_obj
def close(obj: CliContext, case_ref: str) -> None:
    """Close CASE_REF: its keys no longer take part in matching. Re-importing it does not reopen it.

    \b
    Example:
      casebridge cases close NL-2026-0042
    """
    changed = ops_cases.close(obj.ops(), case_ref)
    click.echo(f"{case_ref}: closed" if changed else f"{case_ref}: was already closed")


@cases.command("reopen")
@click.argument("case_ref")
@click.pass_obj
def reopen(obj: CliContext, case_ref: str) -> None:
    """Reopen the closed case CASE_REF: its keys take part in matching again. Audited.

    \b
    Example:
      casebridge cases reopen NL-2026-0042
    """
    changed = ops_cases.reopen(obj.ops(), case_ref)
    click.echo(f"{case_ref}: reopened" if changed else f"{case_ref}: was already open")


@cases.command("delete")
@click.argument("case_ref")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def delete(obj: CliContext, case_ref: str, yes: bool) -> None:
    """Delete CASE_REF with its identifiers, persons, match keys and alerts; it cannot be undone.

    The case's alerts are deleted with it. Disclosure records stay (they record what was asked and
    released) with their link to the alert cleared; a pending request about the case can then only be
    denied. The audit log records the deletion with counts only, never the case's identifiers.

    \b
    Example:
      casebridge cases delete NL-2026-0042 --yes
    """
    if not yes:
        click.confirm(f"Delete case {case_ref} with its identifiers, keys and alerts?", abort=True)
    gone = ops_cases.delete(obj.ops(), case_ref)
    click.echo(
        f"{case_ref}: deleted with {gone.identifiers} identifier(s), {gone.persons} person(s), {gone.keys} key(s) "
        f"and {gone.alerts} alert(s)"
    )
