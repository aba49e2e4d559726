"""The node's CPU-bound work: blinding on threads, and one pool of worker processes for the work in
Python, hashing and parsing case files.

Concurrency in the node (see "Concurrency" in docs/architecture.md): the event loop does the I/O, blocking
SQLite calls go to its default thread pool (``asyncio.to_thread``), blinding goes to threads, and
CPU-heavy Python goes to this pool, one per process. Threads of our own exist only where a library
leaves no other way: the loop thread of :class:`node.net.local.LoopThread` (synchronous callers driving
grpc.aio), the stderr reader of :class:`node.net.handshakes.HandshakeAudit` (gRPC's core writes to fd 2
from its own threads), the hashing producer of case import (it overlaps this pool's work with SQLite
writes in one transaction), and the blinding threads (native X25519 without the GIL, see
:func:`threaded_blinder`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from typing import TypeVar

from crypto import BlindingKey, CryptoUsageError, Suite, blinding_engine
from crypto.suite import suite_by_name
from matcher.psi import Blinder, blind_in_process
from node.core.errors import LocalError

__all__ = ["ParallelCrypto", "threaded_blinder"]

_A = TypeVar("_A")
_R = TypeVar("_R")


def _hash_part(suite_name: str, secret: bytes, keys: list[tuple[str, str]]) -> list[bytes]:
    return suite_by_name(suite_name).hash_keys(secret, keys)


def _split(n: int, parts: int) -> list[tuple[int, int]]:
    step = -(-n // parts)
    return [(i, min(n, i + step)) for i in range(0, n, step)] if n else []


def _check_engine() -> None:
    """A CASEBRIDGE_X25519 that names no usable engine stops a command here, not mid-session."""
    try:
        blinding_engine()
    except CryptoUsageError as why:
        raise LocalError(f"CASEBRIDGE_X25519: {why}") from None


def threaded_blinder(workers: int) -> Blinder:
    """Blinding over ``workers`` threads of this process: the native X25519 releases the GIL, so the
    threads use as many cores, and the session's scalar never leaves the process."""
    if workers < 1:
        raise ValueError("workers must be at least 1")
    _check_engine()
    if workers == 1:
        return blind_in_process

    def blind(key: BlindingKey, elements: Sequence[bytes]) -> list[bytes]:
        return key.blind(elements, workers)

    return blind


class ParallelCrypto:
    """A process pool for hashing and parsing, the steps that run Python. One worker means: stay in this
    process."""

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        _check_engine()
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

    def map(self, fn: Callable[[_A], _R], items: Sequence[_A]) -> Iterable[_R]:
        """``fn`` over ``items``, results in order: in the workers, or here when there is one worker or item."""
        if self._pool is None or len(items) < 2:
            return (fn(item) for item in items)
        return self._pool.map(fn, items)

    def blinder(self) -> Blinder:
        """:func:`threaded_blinder` over as many threads as this pool has workers."""
        return threaded_blinder(self.workers)

    def hash_keys(self, suite: Suite, secret: bytes, keys: Sequence[tuple[str, str]]) -> list[bytes]:
        if self._pool is None:
            return suite.hash_keys(secret, keys)
        ranges = _split(len(keys), self.workers * 4)
        out: list[bytes] = []
        jobs = [list(keys[a:b]) for a, b in ranges]
        for part in self._pool.map(_hash_part, [suite.name] * len(jobs), [secret] * len(jobs), jobs):
            out.extend(part)
        return out
