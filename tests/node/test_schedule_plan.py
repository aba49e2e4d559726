"""When the next round with a peer is due: the scheduler's planning, a pure function of what it knows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from node.config.settings import ScheduleSettings
from node.ops.schedule import BACKOFF_FIRST_S, backoff, plan
from node.store.schedule import RoundRow

NOW = datetime(2026, 12, 3, 12, 0, 0, tzinfo=UTC)
SETTINGS = ScheduleSettings(enabled=True, after_import=30, interval=900)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


@given(st.integers(min_value=1, max_value=200), st.integers(min_value=1, max_value=100_000))
def test_backoff_starts_at_five_seconds_doubles_and_stops_at_the_interval(failures: int, interval: int) -> None:
    assert backoff(1, interval) == min(BACKOFF_FIRST_S, interval)
    assert backoff(failures, interval) <= interval
    assert backoff(failures + 1, interval) >= backoff(failures, interval)
    assert backoff(failures + 1, interval) in (interval, 2 * backoff(failures, interval))


def test_a_peer_never_matched_is_due_at_once() -> None:
    due = plan(RoundRow("DE-BKA"), 0, None, None, NOW, SETTINGS)
    assert (due.at, due.cause) == (NOW, "first")


def test_a_change_is_matched_after_import_seconds_and_otherwise_an_interval_after_the_last_session() -> None:
    done = NOW - timedelta(seconds=100)
    row = RoundRow("DE-BKA", covered=3)
    quiet = plan(row, 3, None, done, NOW, SETTINGS)
    assert (quiet.at, quiet.cause) == (done + timedelta(seconds=900), "interval")
    seen = NOW - timedelta(seconds=10)
    changed = plan(row, 4, seen, done, NOW, SETTINGS)
    assert (changed.at, changed.cause) == (seen + timedelta(seconds=30), "cases changed")
    # A change already covered by the last round does not count again.
    assert plan(RoundRow("DE-BKA", covered=4), 4, seen, done, NOW, SETTINGS).cause == "interval"


def test_a_failing_peer_waits_for_its_backoff_even_when_cases_change() -> None:
    failed_at = NOW - timedelta(seconds=2)
    row = RoundRow("DE-BKA", covered=1, failures=3, last_at=_iso(failed_at))
    due = plan(row, 9, NOW - timedelta(seconds=60), NOW - timedelta(hours=1), NOW, SETTINGS)
    assert (due.at, due.cause) == (failed_at + timedelta(seconds=20), "retry")


def test_a_session_completed_since_the_failure_ends_the_backoff() -> None:
    failed_at = NOW - timedelta(seconds=20)
    row = RoundRow("DE-BKA", covered=1, failures=4, last_at=_iso(failed_at))
    done = NOW - timedelta(seconds=5)  # the peer opened a session with us meanwhile, and it completed
    due = plan(row, 1, None, done, NOW, SETTINGS)
    assert (due.at, due.cause) == (done + timedelta(seconds=900), "interval")


@given(
    st.integers(min_value=0, max_value=5),
    st.integers(min_value=0, max_value=5),
    st.integers(min_value=0, max_value=3),
    st.integers(min_value=0, max_value=10_000),
    st.integers(min_value=1, max_value=3600),
    st.integers(min_value=1, max_value=86_400),
)
def test_a_round_is_never_due_later_than_an_interval_after_the_last_one(
    covered: int, generation: int, failures: int, ago: int, after_import: int, interval: int
) -> None:
    settings = ScheduleSettings(True, after_import, interval)
    last = NOW - timedelta(seconds=ago)
    row = RoundRow("DE-BKA", covered=covered, failures=failures, last_at=_iso(last) if failures else None)
    due = plan(row, generation, NOW, last, NOW, settings)
    assert due.at <= last + timedelta(seconds=interval)
    if generation > covered and not failures:
        assert due.at <= NOW + timedelta(seconds=after_import)
