"""``casebridge bench psi``: the JSON it prints and whether the session found the right intersection.

Timings are figures, never asserted: they depend on the machine and on whatever else runs beside it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from node.bench.psi import make_sets, openmined_run, secretflow_run

KEYS = {
    "size",
    "workers",
    "transport",
    "correct",
    "intersection",
    "hashing_seconds",
    "session_seconds",
    "ours_pairs_per_s",
    "ours_pairs_per_s_with_hashing",
    "openmined_pairs_per_s",
    "ratio",
    "ratio_wall",
    "wire_bytes_per_pair",
    "label",
    "cpu_model",
    "cpu_count",
    "x25519_engine",
    "limit_seconds",
    "limit_cores",
    "session_over_limit",
    "ours_cpu_seconds",
    "initiator_peak_rss_mib",
    "responder_peak_rss_mib",
}


def _bench(*args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "node.cli", "bench", "psi", *args, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert isinstance(result, dict)
    return result


@pytest.mark.parametrize("transport", ["memory", "grpc"])
def test_bench_psi_json(transport: str) -> None:
    result = _bench("--size", "300", "--transport", transport)
    assert result.keys() >= KEYS
    assert result["transport"] == transport
    assert result["size"] == 300
    assert result["workers"] == 1
    assert result["correct"] is True
    assert result["intersection"] == 30
    for key in ("hashing_seconds", "session_seconds", "ours_pairs_per_s", "ours_pairs_per_s_with_hashing"):
        assert isinstance(result[key], float)
        assert result[key] > 0
    # Each pair costs at least one 32-byte element each way plus a tag.
    assert result["wire_bytes_per_pair"] > 64
    assert result["openmined_pairs_per_s"] is None
    assert result["ratio"] is None and result["ratio_wall"] is None
    assert result["openmined_cpu_seconds"] is None
    # Each side's CPU is counted, the responder's in its own process over gRPC: both did work, and one
    # session on one core per side uses at most two cores.
    for key in ("hashing_cpu_seconds", "initiator_cpu_seconds", "responder_cpu_seconds"):
        assert isinstance(result[key], float) and result[key] > 0, key
    assert 0 < result["cores_used"] <= 2.2
    assert result["ours_cpu_seconds"] == pytest.approx(
        sum(result[k] for k in ("hashing_cpu_seconds", "initiator_cpu_seconds", "responder_cpu_seconds")), abs=0.01
    )
    # The floor: the session's own multiplications, timed beside it on as many cores as it had.
    assert result["limit_cores"] == (min(2, os.cpu_count() or 1) if transport == "grpc" else 1)
    assert result["limit_seconds"] > 0
    assert result["session_over_limit"] == pytest.approx(result["session_seconds"] / result["limit_seconds"], rel=0.03)
    assert result["x25519_engine"] in ("libsodium", "crypto_mb") and result["cpu_count"] >= 1
    assert result["cpu_model"]
    if transport == "grpc":
        assert result["label"].startswith("two nodes over gRPC")
        # Each node's own peak during the session; a node holds at least the interpreter and gRPC.
        assert result["initiator_peak_rss_mib"] > 20 and result["responder_peak_rss_mib"] > 20
    else:
        assert result["label"] == "one process, one core"
        assert result["initiator_peak_rss_mib"] is None


@pytest.mark.parametrize("transport", ["memory", "grpc"])
def test_bench_psi_compares_with_openmined_on_the_same_items(transport: str) -> None:
    result = _bench("--size", "400", "--transport", transport, "--compare", "openmined")
    assert result["correct"] is True and result["intersection"] == 40
    assert isinstance(result["openmined_seconds"], float) and result["openmined_seconds"] > 0
    assert result["openmined_wire_bytes_per_pair"] > 0
    # The headline is per core, hashing included on both sides: openmined-psi's CPU seconds over ours.
    assert result["openmined_cpu_seconds"] > 0
    assert result["ratio"] == pytest.approx(
        result["openmined_cpu_seconds"] / result["ours_cpu_seconds"], rel=0.05, abs=0.01
    )
    # The wall-clock ratio includes our hashing as openmined-psi's includes its own.
    ours_wall = result["hashing_seconds"] + result["session_seconds"]
    assert result["ratio_wall"] == pytest.approx(result["openmined_seconds"] / ours_wall, rel=0.05, abs=0.01)


def test_openmined_correct_means_the_items_not_only_their_count() -> None:
    ours, theirs = make_sets(300)
    found = openmined_run(ours, theirs).found
    assert found == set(ours) & set(theirs) and len(found) == 30


def test_bench_chunks_reports_each_step_per_element() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "node.cli", "bench", "chunks", "--chunks", "1", "--json"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    costs = json.loads(done.stdout)
    assert costs["chunk"] == 4096 and costs["chunks"] == 1
    assert costs["x25519_engine"] in ("libsodium", "crypto_mb") and costs["cpu_count"] >= 1
    for key in ("hash_cpu_us", "blind_cpu_us", "blind_wall_us_all_cores", "tag_cpu_us"):
        assert isinstance(costs[key], float) and costs[key] > 0, key


SECRETFLOW = Path(__file__).resolve().parents[2] / ".venv-secretflow" / "bin" / "python"
needs_secretflow = pytest.mark.skipif(not SECRETFLOW.is_file(), reason="no SecretFlow environment: make secretflow")


def test_compare_secretflow_without_its_environment_says_how_to_make_it(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "python"
    done = subprocess.run(
        [sys.executable, "-m", "node.cli", "bench", "psi", "--size", "10", "--compare", "secretflow",
         "--secretflow-python", str(missing)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode != 0
    assert str(missing) in done.stderr and "make secretflow" in done.stderr and "--secretflow-python" in done.stderr
    assert "Traceback" not in done.stderr


@needs_secretflow
def test_bench_psi_compares_with_secretflow_on_the_same_items() -> None:
    result = _bench("--size", "300", "--compare", "secretflow", "--secretflow-python", str(SECRETFLOW))
    assert result["correct"] is True and result["intersection"] == 30
    assert result["secretflow_seconds"] > 0 and result["secretflow_cpu_seconds"] > 0
    assert result["ratio_secretflow"] == pytest.approx(
        result["secretflow_cpu_seconds"] / result["ours_cpu_seconds"], rel=0.05, abs=0.01
    )


@needs_secretflow
def test_secretflow_correct_means_the_items_not_only_their_count() -> None:
    ours, theirs = make_sets(300)
    found = secretflow_run(ours, theirs, SECRETFLOW).found
    assert found == set(ours) & set(theirs) and len(found) == 30
