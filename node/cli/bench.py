"""``casebridge bench``: measured side by side, printed as ratios."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from node.bench.chunks import run_chunk_bench
from node.bench.grpc_transport import run_grpc_bench
from node.bench.incremental import run_incremental_bench
from node.bench.psi import Compare, PsiBenchResult, run_psi_bench
from node.cli.app import emit_json, fail, main, print_table

__all__ = ["bench"]

# Where `make secretflow` puts SecretFlow's environment: beside the package, in a source checkout.
SECRETFLOW_PYTHON = Path(__file__).resolve().parents[2] / ".venv-secretflow" / "bin" / "python"


@main.group()
def bench() -> None:
    """Benchmarks run on this machine (figures, never pass/fail).

    \b
    Example:
      casebridge bench psi --size 100000 --compare openmined
      casebridge bench incremental --size 200000 --new 0.01 --json
    """


@bench.command("psi")
@click.option("--size", type=click.IntRange(min=1), required=True, help="Elements per side (10 % overlap).")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Processes that share the blinding and hashing.",
)
@click.option(
    "--compare",
    type=click.Choice(["openmined", "secretflow"]),
    multiple=True,
    help="Also run openmined-psi (the 'bench' extra) or SecretFlow's ECDH-PSI (make secretflow) on the same "
    "items in the same run; repeat for both.",
)
@click.option(
    "--transport",
    type=click.Choice(["memory", "grpc"]),
    default="memory",
    show_default=True,
    help="memory: both sides in this process. grpc: two real nodes in two processes over loopback mTLS.",
)
@click.option(
    "--secretflow-python",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="CASEBRIDGE_SECRETFLOW_PYTHON",
    default=SECRETFLOW_PYTHON,
    show_default=True,
    help="The interpreter of the environment that has spu (SecretFlow pins numpy and jax below ours).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def bench_psi(
    size: int, workers: int, compare: tuple[str, ...], transport: str, secretflow_python: Path, as_json: bool
) -> None:
    """Run both sides of a mutual-reveal PSI session on SIZE x SIZE elements.

    The result is checked against a plain set intersection; `correct` says whether it matched. With
    `--transport grpc` two throw-away nodes are created (init, peers add), the responder runs as a
    `casebridge serve` process and this process runs `match` against it; the session is timed from
    opening the channel until both sides have recorded their alerts, and `correct` checks both sides'
    alerts. There `--workers` only spreads the hashing, which the product does at import.

    \b
    Example:
      casebridge bench psi --size 100000 --compare openmined --compare secretflow --json
      casebridge bench psi --size 100000 --transport grpc --compare openmined --json
    """
    if "openmined" in compare:
        try:
            import private_set_intersection.python  # noqa: F401
        except ImportError:
            fail("openmined-psi is not installed; install the 'bench' extra: pip install 'casebridge[bench]'")
    if "secretflow" in compare and not secretflow_python.is_file():
        fail(
            f"{secretflow_python}: no such interpreter; run 'make secretflow' in the source checkout, or give "
            "--secretflow-python (or CASEBRIDGE_SECRETFLOW_PYTHON) the python of an environment with spu 0.9.5"
        )
    others = Compare(
        openmined="openmined" in compare, secretflow=secretflow_python if "secretflow" in compare else None
    )
    err = Console(stderr=True)
    run = run_grpc_bench if transport == "grpc" else run_psi_bench
    result = run(
        size,
        workers,
        compare=others,
        progress=(lambda _: None) if as_json else (lambda text: err.print(f"[dim]{text}…[/dim]")),
    )
    if as_json:
        emit_json(result.as_json())
        return
    _print_psi(result, transport)


def _print_psi(result: PsiBenchResult, transport: str) -> None:
    size, workers = result.size, result.workers
    where = "two nodes over gRPC" if transport == "grpc" else "in memory"
    table = Table(title=f"PSI {size:,} x {size:,}, {workers} worker(s), {where}")
    table.add_column("measure")
    table.add_column("casebridge", justify="right")
    table.add_column("openmined-psi", justify="right")
    om = result.openmined_pairs_per_s
    table.add_row(
        "pairs/s (hash-to-group precomputed)",
        f"{result.ours_pairs_per_s:,.0f}",
        "—" if om is None else f"{om:,.0f}",
    )
    table.add_row(
        "pairs/s (including hashing)",
        f"{result.ours_pairs_per_s_with_hashing:,.0f}",
        "—" if om is None else f"{om:,.0f}",
    )
    table.add_row(
        "wire bytes per pair",
        f"{result.wire_bytes_per_pair:.1f}",
        "—" if result.openmined_wire_bytes_per_pair is None else f"{result.openmined_wire_bytes_per_pair:.1f}",
    )
    om_cpu = result.openmined_cpu_seconds
    table.add_row(
        "CPU seconds (including hashing)",
        f"{result.ours_cpu_seconds:,.2f}",
        "—" if om_cpu is None else f"{om_cpu:,.2f}",
    )
    print_table(table)
    click.echo(f"{result.label}; {result.cpu_model}, {result.cpu_count} cores; X25519 by {result.x25519_engine}")
    click.echo(
        f"CPU seconds: hashing {result.hashing_cpu_seconds:.2f}, initiator {result.initiator_cpu_seconds:.2f}, "
        f"responder {result.responder_cpu_seconds:.2f}; the session used {result.cores_used:.2f} core(s)"
    )
    click.echo(
        f"session {result.session_seconds:.2f} s against {result.limit_seconds:.2f} s for its bare scalar "
        f"multiplications on {result.limit_cores} core(s): {result.session_over_limit:.2f}x the floor"
    )
    if result.initiator_peak_rss_mib is not None:
        click.echo(
            f"peak memory in the session: initiator {result.initiator_peak_rss_mib:,.0f} MiB, "
            f"responder {result.responder_peak_rss_mib:,.0f} MiB"
        )
    if result.ratio_secretflow is not None:
        click.echo(
            f"SecretFlow ECDH-PSI: {result.secretflow_seconds:.2f} s, {result.secretflow_cpu_seconds:.2f} CPU s; "
            f"ratio {result.ratio_secretflow:.2f} (CPU seconds, core for core)"
        )
    if result.ratio is not None:
        click.echo(
            f"ratio {result.ratio:.2f} (CPU seconds, hashing included on both sides: core for core); "
            f"wall-clock {result.ratio_wall:.2f} ({result.label} against one core); correct: {result.correct}"
        )
    else:
        click.echo(f"correct: {result.correct}")


@bench.command("chunks")
@click.option("--chunks", type=click.IntRange(min=1), default=10, show_default=True, help="Chunks to time.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def bench_chunks(chunks: int, as_json: bool) -> None:
    """What one chunk of a session costs per element: hashing, blinding, tags (microseconds).

    CPU microseconds on one core, and the blinding's wall microseconds when all of this machine's cores
    share it (the figures docs/scaling.md plans with).

    \b
    Example:
      casebridge bench chunks --json
    """
    costs = run_chunk_bench(chunks)
    if as_json:
        emit_json(costs.as_json())
        return
    table = Table(
        title=f"{chunks} chunks of {costs.chunk:,} elements; {costs.cpu_model}, X25519 by {costs.x25519_engine}"
    )
    table.add_column("step, per element")
    table.add_column("µs", justify="right")
    table.add_row("hash a key to the group (CPU, one core)", f"{costs.hash_cpu_us:.2f}")
    table.add_row("validate and blind (CPU, one core)", f"{costs.blind_cpu_us:.2f}")
    table.add_row(f"validate and blind (wall, {costs.cpu_count} cores)", f"{costs.blind_wall_us_all_cores:.2f}")
    table.add_row("tag a doubly blinded element (CPU, one core)", f"{costs.tag_cpu_us:.2f}")
    print_table(table)


@bench.command("incremental")
@click.option("--size", type=click.IntRange(min=1), required=True, help="Keys per side in the full session.")
@click.option(
    "--new",
    type=click.FloatRange(min=0.0, max=1.0, min_open=True),
    default=0.01,
    show_default=True,
    help="New keys per side before the delta session, as a share of SIZE.",
)
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Processes for hashing.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def bench_incremental(size: int, new: float, workers: int, as_json: bool) -> None:
    """A full session, then a delta session after NEW x SIZE new keys on each side, between two real nodes.

    Both sessions run between the same two nodes (this process and a `casebridge serve` child) over
    loopback mutual TLS and are timed alike, from opening the channel until both nodes recorded their
    alerts; `ratio` is delta time / full time. `correct` checks the delta's count and both nodes' alerts
    against a plain set intersection of the whole current sets.

    \b
    Example:
      casebridge bench incremental --size 200000 --new 0.01 --json
    """
    err = Console(stderr=True)
    result = run_incremental_bench(
        size, new, workers, progress=(lambda _: None) if as_json else (lambda text: err.print(f"[dim]{text}…[/dim]"))
    )
    if as_json:
        emit_json(result.as_json())
        return
    table = Table(
        title=f"full session {size:,} x {size:,}, then a delta of {result.new_keys_per_side:,} new keys a side"
    )
    table.add_column("session")
    table.add_column("seconds", justify="right")
    table.add_column("wire bytes", justify="right")
    table.add_row("full", f"{result.full_seconds:.3f}", f"{result.full_wire_bytes:,}")
    table.add_row(result.delta_kind, f"{result.delta_seconds:.3f}", f"{result.delta_wire_bytes:,}")
    print_table(table)
    click.echo(f"ratio {result.ratio:.4f} (delta / full); correct: {result.correct}")
    click.echo(f"basis: {result.basis}")
