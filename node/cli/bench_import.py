"""``casebridge bench import``: case import throughput on a synthetic file."""

from __future__ import annotations

import os
import secrets
import sys
import tempfile
import time
from pathlib import Path

import click
from rich.console import Console

from node.cases.synthetic import synthetic_cases, write_jsonl
from node.cli.app import emit_json
from node.cli.bench import bench
from node.cli.cases import ImportBar
from node.core.home import NodeHome
from node.ops import Operations
from node.ops import cases as ops_cases

__all__ = ["bench_import"]


@bench.command("import")
@click.option("--size", type=click.IntRange(min=1), required=True, help="Cases in the synthetic file.")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Processes that normalise and hash. Default: all cores.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the synthetic file.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def bench_import(size: int, workers: int | None, seed: int, as_json: bool) -> None:
    """Import SIZE synthetic cases (about 3 identifiers each) into a throw-away node home.

    The file is generated first and not timed; the figure covers reading, normalising, hashing and the
    one write transaction, as `casebridge cases import` does them.

    \b
    Example:
      casebridge bench import --size 200000 --json
    """
    n_workers = workers or os.cpu_count() or 1
    err = Console(stderr=True)
    with tempfile.TemporaryDirectory(prefix="casebridge-bench-") as tmp:
        home = NodeHome(Path(tmp))
        home.federation_secret.write_text(secrets.token_hex(32) + "\n", encoding="ascii")
        if not as_json:
            err.print(f"[dim]generating {size:,} synthetic cases…[/dim]")
        path = write_jsonl(synthetic_cases(size, seed=seed), Path(tmp) / "synthetic.jsonl")
        ops = Operations(home, "bench")
        started = time.perf_counter()
        bar = ImportBar() if not as_json and sys.stderr.isatty() else None
        if bar is not None:
            with bar:
                summary = ops_cases.import_file(ops, path, "jsonl", workers=n_workers, progress=bar)
        else:
            summary = ops_cases.import_file(ops, path, "jsonl", workers=n_workers)
        seconds = time.perf_counter() - started
    result = {
        "cases": summary.cases_added + summary.cases_updated,
        "identifiers": summary.identifiers,
        "keys": summary.keys,
        "seconds": round(seconds, 3),
        "identifiers_per_s": round(summary.identifiers / seconds, 1),
        "keys_per_s": round(summary.keys / seconds, 1),
        "workers": n_workers,
    }
    if as_json:
        emit_json(result)
        return
    click.echo(
        f"{result['cases']:,} cases, {summary.identifiers:,} identifiers, {summary.keys:,} keys in "
        f"{seconds:.1f} s with {n_workers} worker(s): {result['identifiers_per_s']:,.0f} identifiers/s, "
        f"{result['keys_per_s']:,.0f} keys/s"
    )
