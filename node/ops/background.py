"""What a serving node runs beside the exchange on its event loop: one task per job, ended on request.

A job's loop runs until :meth:`Background.stop`, which lets the step in progress finish; between steps the
job waits with :meth:`Background.pause`, which returns at once when stopping begins. Retries back off the
same way everywhere: :func:`backoff`.
"""

from __future__ import annotations

import asyncio
import contextlib

__all__ = ["BACKOFF_FIRST_S", "Background", "backoff"]

BACKOFF_FIRST_S = 5.0


def backoff(failures: int, cap: float) -> float:
    """Seconds to wait after ``failures`` failures in a row: 5 s, doubling with each one, at most ``cap``."""
    return min(float(cap), BACKOFF_FIRST_S * 2.0 ** min(max(failures, 1) - 1, 30))


class Background:
    """A job with a loop of its own (:meth:`_loop`), started and stopped with the serving node."""

    task_name = "background"

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop(), name=self.task_name)

    async def stop(self) -> None:
        """End the loop once its current step is done; a no-op when it never started."""
        if self._task is None:
            return
        self._stopping.set()
        await self._task
        self._task = None

    async def pause(self, seconds: float) -> None:
        """Wait ``seconds``, or less if stopping begins meanwhile."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _loop(self) -> None:
        raise NotImplementedError
