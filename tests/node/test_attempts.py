"""The attempt a full session keeps in a real file: taken up with its scalar and its work while it is good,
begun anew when it is not (another binding, past its end, damaged), cut-short pairs dropped, held by one
session at a time, and gone once destroyed."""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import pytest

from crypto import BlindingKey
from matcher.psi import blind_in_process
from node.core.home import NodeHome
from node.matching import attempts
from node.matching.attempts import discard_attempt, take_attempt

PEER, ROLE, BOUND = "DE-BKA", "responder", "binding-1"


def _points(count: int) -> list[bytes]:
    return [BlindingKey.generate(os.urandom).public_key() for _ in range(count)]


class _Counting:
    def __init__(self) -> None:
        self.multiplied = 0

    def __call__(self, key: BlindingKey, batch: Sequence[bytes]) -> list[bytes]:
        self.multiplied += len(batch)
        return blind_in_process(key, batch)


def _file(home: NodeHome) -> Path:
    return home.root / "attempts" / f"{PEER}.{ROLE}"


@pytest.fixture
def home(tmp_path: Path) -> NodeHome:
    return NodeHome(tmp_path)


def test_a_kept_attempt_is_taken_up_with_its_scalar_and_its_work(home: NodeHome) -> None:
    points = _points(40)
    first = take_attempt(home, PEER, ROLE, BOUND, 7, 32)
    assert first is not None and not first.resumed
    counting = _Counting()
    done = first.blinder(counting)(first.key, points[:25])
    first.keep()
    assert oct(_file(home).stat().st_mode & 0o777) == "0o600"
    again = take_attempt(home, PEER, ROLE, BOUND, 7, 32)
    assert again is not None and again.resumed
    assert again.key.secret_bytes() == first.key.secret_bytes() and again.ends_at == first.ends_at
    assert again.canary_random()(64) == first.canary_random()(64)
    counting = _Counting()
    out = again.blinder(counting)(again.key, points)
    assert out == blind_in_process(first.key, points) and out[:25] == done
    assert counting.multiplied == 15 and (again.reused, again.computed) == (25, 15)
    # Another key (a canary's, say) goes straight through and is not remembered.
    other = BlindingKey.generate(os.urandom)
    assert again.blinder(counting)(other, points[:3]) == blind_in_process(other, points[:3])
    again.destroy()
    assert not _file(home).exists()


def test_a_pair_cut_short_is_dropped_and_the_rest_kept(home: NodeHome) -> None:
    points = _points(10)
    first = take_attempt(home, PEER, ROLE, BOUND, 7, 32)
    assert first is not None
    first.blinder(blind_in_process)(first.key, points)
    first.keep()
    with _file(home).open("ab") as handle:
        handle.write(points[0] + b"\x01" * 7)  # the kill came in the middle of a write
    again = take_attempt(home, PEER, ROLE, BOUND, 7, 32)
    assert again is not None
    counting = _Counting()
    assert again.blinder(counting)(again.key, points) == blind_in_process(first.key, points)
    assert counting.multiplied == 0


@pytest.mark.parametrize("change", ["binding", "ends_at", "width", "epoch key", "damaged"])
def test_an_attempt_no_longer_good_is_begun_anew(home: NodeHome, change: str, caplog: pytest.LogCaptureFixture) -> None:
    first = take_attempt(home, PEER, ROLE, BOUND, 7, 32)
    assert first is not None
    first.blinder(blind_in_process)(first.key, _points(5))
    first.keep()
    bound, width = BOUND, 32
    data = _file(home).read_bytes()
    if change == "binding":
        bound = "binding-2"  # a certificate, the federation secret or the policy changed
    elif change == "ends_at":
        _file(home).write_bytes(data.replace(first.ends_at.encode(), b"2000-01-01T00:00:00+00:00"))
    elif change == "width":
        width = 64
    elif change == "epoch key":
        (home.root / "epoch.key").write_text(os.urandom(32).hex() + "\n")
    else:
        _file(home).write_bytes(b"not an attempt" + data)
    with caplog.at_level(logging.WARNING, "casebridge.session"):
        again = take_attempt(home, PEER, ROLE, bound, 7, width)
    assert again is not None and not again.resumed
    assert again.key.secret_bytes() != first.key.secret_bytes()
    assert ("cannot be taken up" in caplog.text) == (change == "damaged")
    again.keep()
    taken = take_attempt(home, PEER, ROLE, bound, 7, width)
    assert taken is not None and taken.key.secret_bytes() == again.key.secret_bytes()


def test_one_session_holds_an_attempt_at_a_time(home: NodeHome) -> None:
    holder = take_attempt(home, PEER, ROLE, BOUND, 7, 32)
    assert holder is not None
    assert take_attempt(home, PEER, ROLE, BOUND, 7, 32) is None
    discard_attempt(home, PEER, ROLE)  # held: left alone
    assert _file(home).exists()
    holder.keep()
    discard_attempt(home, PEER, ROLE)
    assert not _file(home).exists()
    discard_attempt(home, PEER, ROLE)  # nothing there: nothing to do


def test_work_in_flight_when_the_session_ends_is_still_written(home: NodeHome) -> None:
    points = _points(6)
    first = take_attempt(home, PEER, ROLE, BOUND, 7, 32)
    assert first is not None

    def ends_meanwhile(key: BlindingKey, batch: Sequence[bytes]) -> list[bytes]:
        first.keep()  # the session ends while this batch is being multiplied in another thread
        return blind_in_process(key, batch)

    first.blinder(ends_meanwhile)(first.key, points)
    again = take_attempt(home, PEER, ROLE, BOUND, 7, 32)
    assert again is not None and again.resumed
    counting = _Counting()
    again.blinder(counting)(again.key, points)
    assert counting.multiplied == 0


def test_an_attempt_keeps_at_most_its_bound_of_pairs(home: NodeHome, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(attempts, "MAX_PAIRS", 10)
    points = _points(25)
    first = take_attempt(home, PEER, ROLE, BOUND, 7, 32)
    assert first is not None
    first.blinder(blind_in_process)(first.key, points[:6])
    first.blinder(blind_in_process)(first.key, points[6:])
    first.keep()
    assert _file(home).stat().st_size < 200 + 10 * 64
    again = take_attempt(home, PEER, ROLE, BOUND, 7, 32)
    assert again is not None
    counting = _Counting()
    assert again.blinder(counting)(again.key, points) == blind_in_process(first.key, points)
    assert counting.multiplied == 15


def test_an_attempt_destroyed_while_another_session_waited_for_it_is_not_taken_up(
    home: NodeHome, monkeypatch: pytest.MonkeyPatch
) -> None:
    holder = take_attempt(home, PEER, ROLE, BOUND, 7, 32)
    assert holder is not None
    holder.blinder(blind_in_process)(holder.key, _points(4))
    real_flock = fcntl.flock

    def destroyed_meanwhile(fd: int, operation: int) -> None:
        holder.destroy()  # the holder ends between the other session's open and its lock
        real_flock(fd, operation)

    monkeypatch.setattr(fcntl, "flock", destroyed_meanwhile)
    assert take_attempt(home, PEER, ROLE, BOUND, 7, 32) is None
    monkeypatch.setattr(fcntl, "flock", real_flock)
    fresh = take_attempt(home, PEER, ROLE, BOUND, 7, 32)
    assert fresh is not None and not fresh.resumed and fresh.key.secret_bytes() != holder.key.secret_bytes()


def test_a_full_disk_stops_the_keeping_not_the_session(home: NodeHome, caplog: pytest.LogCaptureFixture) -> None:
    points = _points(8)
    first = take_attempt(home, PEER, ROLE, BOUND, 7, 32)
    assert first is not None

    def no_space(data: bytes) -> int:
        raise OSError(28, "No space left on device")

    first._handle.write = no_space  # type: ignore[method-assign, assignment]
    with caplog.at_level(logging.WARNING, "casebridge.session"):
        assert first.blinder(blind_in_process)(first.key, points[:4]) == blind_in_process(first.key, points[:4])
        assert first.blinder(blind_in_process)(first.key, points[4:]) == blind_in_process(first.key, points[4:])
    assert sum("can take no more" in r.getMessage() for r in caplog.records) == 1
    first.keep()
