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
from typing import Any

from crypto import DEFAULT_SUITE, BlindingKey, tags_of
from matcher.psi import DEFAULT_CHUNK
from node.bench.limit import cpu_model, x25519_engine
from node.bench.psi import make_sets

__all__ = ["ChunkCosts", "run_chunk_bench"]

TAG_LENGTH = 10


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


def _per_element(work: Callable[[], object], elements: int, clock: Callable[[], float]) -> float:
    started = clock()
    work()
    return round((clock() - started) / elements * 1e6, 2)


def run_chunk_bench(chunks: int = 10) -> ChunkCosts:
    count = DEFAULT_CHUNK * chunks
    keys = [("phone", value) for value in make_sets(count)[0]]
    secret, key, cores = os.urandom(32), BlindingKey(os.urandom(32)), os.cpu_count() or 1
    cpu = time.process_time
    holder: dict[str, list[bytes]] = {}

    def hashed() -> None:
        holder["elements"] = DEFAULT_SUITE.hash_keys(secret, keys)

    hash_us = _per_element(hashed, count, cpu)
    elements = holder["elements"]
    parts = [elements[i : i + DEFAULT_CHUNK] for i in range(0, count, DEFAULT_CHUNK)]
    blind_us = _per_element(lambda: [key.blind(part) for part in parts], count, cpu)
    wall = _per_element(lambda: [key.blind(part, cores) for part in parts], count, time.perf_counter)
    blinded = key.blind(elements)
    tag_us = _per_element(lambda: tags_of(blinded, TAG_LENGTH), count, cpu)
    return ChunkCosts(
        chunk=DEFAULT_CHUNK, chunks=chunks, cpu_model=cpu_model(), cpu_count=cores, x25519_engine=x25519_engine(),
        hash_cpu_us=hash_us, blind_cpu_us=blind_us, blind_wall_us_all_cores=wall, tag_cpu_us=tag_us,
    )  # fmt: skip
