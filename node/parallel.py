"""Spreading blinding and hashing over local processes."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Executor, ProcessPoolExecutor

from crypto import BlindingKey, Suite
from crypto.suite import suite_by_name
from matcher.psi import Blinder

__all__ = ["ParallelCrypto"]


def _blind_blob(key: BlindingKey, blob: bytes) -> bytes:
    return key.blind_concatenated(blob)


def _hash_part(suite_name: str, secret: bytes, keys: list[tuple[str, str]]) -> list[bytes]:
    return suite_by_name(suite_name).hash_keys(secret, keys)


def _split(n: int, parts: int) -> list[tuple[int, int]]:
    step = -(-n // parts)
    return [(i, min(n, i + step)) for i in range(0, n, step)] if n else []


class ParallelCrypto:
    """A process pool for the two expensive steps. One worker means: stay in this process."""

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.workers = workers
        self._pool: Executor | None = ProcessPoolExecutor(workers) if workers > 1 else None

    def __enter__(self) -> ParallelCrypto:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def warm_up(self) -> None:
        """Start the worker processes before anything is timed."""
        if self._pool is not None:
            list(self._pool.map(abs, range(self.workers * 2)))

    def blinder(self) -> Blinder:
        pool = self._pool
        if pool is None:
            return lambda key, elements: key.blind(elements)
        parts = self.workers

        def blind(key: BlindingKey, elements: Sequence[bytes]) -> list[bytes]:
            blobs = [b"".join(elements[a:b]) for a, b in _split(len(elements), parts)]
            out: list[bytes] = []
            for blob in pool.map(_blind_blob, [key] * len(blobs), blobs):
                out.extend(blob[i : i + 32] for i in range(0, len(blob), 32))
            return out

        return blind

    def hash_keys(self, suite: Suite, secret: bytes, keys: Sequence[tuple[str, str]]) -> list[bytes]:
        if self._pool is None:
            return suite.hash_keys(secret, keys)
        ranges = _split(len(keys), self.workers * 4)
        out: list[bytes] = []
        jobs = [list(keys[a:b]) for a, b in ranges]
        for part in self._pool.map(_hash_part, [suite.name] * len(jobs), [secret] * len(jobs), jobs):
            out.extend(part)
        return out
