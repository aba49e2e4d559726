"""``casebridge bench chunks``: what one chunk of a session costs, step by step, on this machine.

The figures docs/scaling.md plans with: per element of a DEFAULT_CHUNK-element chunk, CPU microseconds
for hashing a key to the group (at import), validating and blinding (once per side and element, twice per
element in a session), and the tags of doubly blinded elements; and the blinding's wall microseconds when
every core of this machine shares it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from crypto import DEFAULT_SUITE, BlindingKey, blinding_engine, tags_of
from matcher.psi import DEFAULT_CHUNK
from node.bench.limit import cpu_model
from node.bench.psi import make_sets

__all__ = ["ChunkCosts", "run_chunk_bench"]

TAG_LENGTH = 10
_R = TypeVar("_R")


@dataclass(frozen=True)
class ChunkCosts:
    chunk: int
    chunks: int
    cpu_model: str
    cpu_count: int
    x25519_engine: str
    hash_cpu_us: float
    blind_cpu_us: float
    blind_wall_us_all_cores: float
    tag_cpu_us: float

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _per_element(work: Callable[[], _R], elements: int, clock: Callable[[], float]) -> tuple[float, _R]:
    """Microseconds per element of ``work`` on ``clock``, and what it returned."""
    started = clock()
    out = work()
    return round((clock() - started) / elements * 1e6, 2), out


def run_chunk_bench(chunks: int = 10) -> ChunkCosts:
    count = DEFAULT_CHUNK * chunks
    keys = [("phone", value) for value in make_sets(count)[0]]
    secret, key, cores = os.urandom(32), BlindingKey(os.urandom(32)), os.cpu_count() or 1
    cpu = time.process_time
    hash_us, elements = _per_element(lambda: DEFAULT_SUITE.hash_keys(secret, keys), count, cpu)
    parts = [elements[i : i + DEFAULT_CHUNK] for i in range(0, count, DEFAULT_CHUNK)]
    blind_us, blinded_parts = _per_element(lambda: [key.blind(part) for part in parts], count, cpu)
    blinded = [element for part in blinded_parts for element in part]
    wall, _ = _per_element(lambda: [key.blind(part, cores) for part in parts], count, time.perf_counter)
    tag_us, _ = _per_element(lambda: tags_of(blinded, TAG_LENGTH), count, cpu)
    return ChunkCosts(
        chunk=DEFAULT_CHUNK, chunks=chunks, cpu_model=cpu_model(), cpu_count=cores, x25519_engine=blinding_engine(),
        hash_cpu_us=hash_us, blind_cpu_us=blind_us, blind_wall_us_all_cores=wall, tag_cpu_us=tag_us,
    )  # fmt: skip
