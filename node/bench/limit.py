"""The floor a PSI session can approach on this machine: its bare scalar multiplications, timed.

A mutual session over sets of sizes a and b multiplies 2(a + b) points by a scalar: each side blinds its
own elements and then the other side's once-blinded ones. :func:`limit_seconds` does exactly that work
with the same X25519 engine the session uses, on the same number of cores, with nothing else (no hashing,
no wire, no store), so ``session_seconds / limit_seconds`` says how far the rest of the session costs.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Sequence
from pathlib import Path

from crypto import BlindingKey

__all__ = ["cpu_model", "limit_seconds"]


def limit_seconds(ours: Sequence[bytes], theirs: Sequence[bytes], cores: int) -> float:
    """Wall seconds for the 2(a + b) multiplications of a session over ``ours`` and ``theirs``, spread
    over ``cores`` threads (the engine releases the GIL, so threads use that many cores)."""
    a, b = BlindingKey(os.urandom(32)), BlindingKey(os.urandom(32))
    ours_blob, theirs_blob = b"".join(ours), b"".join(theirs)
    started = time.perf_counter()
    once_ours = a.blind_concatenated(ours_blob, cores)
    once_theirs = b.blind_concatenated(theirs_blob, cores)
    b.blind_concatenated(once_ours, cores)
    a.blind_concatenated(once_theirs, cores)
    return time.perf_counter() - started


def cpu_model() -> str:
    """The processor's model name, as the benchmark tables print it."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
