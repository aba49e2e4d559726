"""The node's only access to the clock: wall time for records, a monotonic clock for deadlines.

Everything that needs the time takes a :class:`Clock` (the operations layer holds one and passes it down),
so a test can run a use case at a chosen moment. :data:`SYSTEM` is the real one; the module-level
functions read it, for code that has no clock handed to it yet.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = ["SYSTEM", "Clock", "FixedClock", "SystemClock", "ago_iso", "monotonic", "now", "now_iso", "today_iso"]


class Clock:
    """Wall time in UTC and a monotonic reading in seconds."""

    def now(self) -> datetime:
        raise NotImplementedError

    def monotonic(self) -> float:
        raise NotImplementedError

    def now_iso(self) -> str:
        """UTC, second precision, e.g. ``2026-11-29T16:54:30+00:00``."""
        return self.now().isoformat(timespec="seconds")

    def ago_iso(self, seconds: float) -> str:
        """The moment ``seconds`` ago, in the form of :meth:`now_iso` (so the two compare as strings)."""
        return (self.now() - timedelta(seconds=seconds)).isoformat(timespec="seconds")

    def today_iso(self) -> str:
        """The current UTC day, ``YYYY-MM-DD``."""
        return self.now().date().isoformat()


class SystemClock(Clock):
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


@dataclass
class FixedClock(Clock):
    """A clock that stands still until told to move (tests, replays)."""

    at: datetime
    ticks: float = 0.0

    def now(self) -> datetime:
        return self.at

    def monotonic(self) -> float:
        return self.ticks


SYSTEM: Clock = SystemClock()


def now() -> datetime:
    return SYSTEM.now()


def now_iso() -> str:
    return SYSTEM.now_iso()


def today_iso() -> str:
    return SYSTEM.today_iso()


def ago_iso(seconds: float) -> str:
    return SYSTEM.ago_iso(seconds)


def monotonic() -> float:
    return SYSTEM.monotonic()
