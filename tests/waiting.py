"""Waiting on a state with a deadline: the only way tests wait (never a fixed timer).

The predicate is asked again every ``interval`` seconds until it holds, or until ``timeout`` seconds have
passed, which fails the test with ``what`` in the message. The result is the predicate's last truthy value.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["async_wait_until", "holds_within", "wait_until"]

_T = TypeVar("_T")


def wait_until(predicate: Callable[[], _T], timeout: float, what: str = "the state", interval: float = 0.02) -> _T:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout} s")
        time.sleep(interval)
    return value


def holds_within(predicate: Callable[[], object], timeout: float, interval: float = 0.02) -> bool:
    """Whether ``predicate`` came to hold within ``timeout`` seconds (for a wait that has a fallback)."""
    try:
        wait_until(predicate, timeout, interval=interval)
    except AssertionError:
        return False
    return True


async def async_wait_until(
    predicate: Callable[[], _T], timeout: float, what: str = "the state", interval: float = 0.02
) -> _T:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout} s")
        await asyncio.sleep(interval)
    return value
