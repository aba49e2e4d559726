"""CPU seconds spent by processes, for benchmarks that compare like with like: wall time hides how many
cores did the work, CPU time does not."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

import psutil

__all__ = ["CpuMeter", "peak_memory_mib", "reset_peak_memory"]


class CpuMeter:
    """User plus system CPU seconds of one process and of the children it has when the meter is made (a
    worker pool started before, a node's own workers). A child that exits takes its seconds with it, so
    make the meter once the processes to be measured run, and read it while they still do."""

    def __init__(self, pid: int | None = None, *, children: bool = True) -> None:
        root = psutil.Process(os.getpid() if pid is None else pid)
        self._ours = root.pid == os.getpid()
        # Another process's times come from /proc in clock ticks (10 ms); this process's own, read through
        # the kernel's per-process CPU clock, are exact enough to meter each step of a session.
        self._processes = [] if self._ours else [root]
        self._processes.extend(root.children(recursive=True) if children else ())

    def seconds(self) -> float:
        total = time.process_time() if self._ours else 0.0
        for process in self._processes:
            try:
                times = process.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
        return total


def reset_peak_memory(pid: int | None = None) -> None:
    """Start a process's peak resident memory afresh (Linux: ``5`` into ``/proc/PID/clear_refs``)."""
    # Not Linux, or not allowed: the peak then counts from the process's start.
    with contextlib.suppress(OSError):
        Path(f"/proc/{pid or os.getpid()}/clear_refs").write_text("5")


def peak_memory_mib(pid: int | None = None) -> float:
    """A process's peak resident memory since it started or since :func:`reset_peak_memory` (MiB)."""
    try:
        for line in Path(f"/proc/{pid or os.getpid()}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return psutil.Process(pid).memory_info().rss / 2**20
