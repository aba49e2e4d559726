"""The node's only access to the clock, so timestamps have one format everywhere."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["now", "now_iso", "today_iso"]


def now() -> datetime:
    return datetime.now(UTC)


def now_iso() -> str:
    """UTC, second precision, e.g. ``2026-11-29T16:54:30+00:00``."""
    return now().isoformat(timespec="seconds")


def today_iso() -> str:
    """The current UTC day, ``YYYY-MM-DD``: the unit of daily quotas."""
    return now().date().isoformat()
