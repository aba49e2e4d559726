"""Periodic jobs of a serving node (retention, the handshake tally), supervised on the event loop.

A job is blocking work (SQLite) run in the loop's default thread pool. Whatever it raises is logged and
written to the audit log as one ``task.failed`` entry per failed run, naming the job and the kind of error
only (an exception's text may quote a value), and the next run still happens on schedule. If the audit
log cannot be written either (the database is locked, say), the entry waits and is written before the
job's next run. :meth:`Periodic.stop` lets a run in progress finish (a job is never cut off half-way in its
thread) and ends the schedule, so nothing runs after serving ends.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from node.core.errors import EXPECTED_ERRORS
from node.ops.background import Background
from node.ops.context import Operations
from node.store import audit as audit
from node.store import unit_of_work

__all__ = ["Periodic"]

log = logging.getLogger("casebridge.server")


class Periodic(Background):
    """Run ``job`` now and then every ``interval`` seconds until stopped; failures never end the schedule."""

    def __init__(self, ops: Operations, name: str, job: Callable[[], None], interval: float) -> None:
        super().__init__()
        self.task_name = f"periodic-{name}"
        self.ops = ops
        self.name = name
        self.job = job
        self.interval = interval
        self.runs = 0  # finished runs, failed or not (tests wait on these)
        self.failures = 0
        self.recorded_failures = 0
        self._unrecorded: list[str] = []

    async def _loop(self) -> None:
        while not self.stopping:
            await self.run_once()
            await self.pause(self.interval)

    async def run_once(self) -> None:
        if self._unrecorded:
            await asyncio.to_thread(self._record_failures)
        try:
            await asyncio.to_thread(self.job)
        except EXPECTED_ERRORS as exc:  # their text is written for operators and names no value
            self._failed(type(exc).__name__, str(exc))
        except Exception as exc:  # supervision: any failure is reported and the schedule goes on
            self._failed(type(exc).__name__, "unexpected error")
        finally:
            self.runs += 1
        if self._unrecorded:
            await asyncio.to_thread(self._record_failures)

    def _failed(self, kind: str, text: str) -> None:
        self.failures += 1
        self._unrecorded.append(kind)
        log.error("%s failed (%s: %s); it runs again in %.0f s", self.name, kind, text, self.interval)

    def _record_failures(self) -> None:
        try:
            with unit_of_work(self.ops.home) as db:
                for kind in self._unrecorded:
                    audit.append(
                        db, "task.failed", at=self.ops.now_iso(), task=self.name, error=kind, actor=self.ops.actor
                    )
        except Exception as exc:  # kept for the next run; the failure itself was logged
            log.warning("could not record that %s failed (%s); trying again later", self.name, type(exc).__name__)
            return
        self.recorded_failures += len(self._unrecorded)
        self._unrecorded.clear()
