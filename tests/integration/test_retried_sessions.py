"""An epoch's full session cut off part-way is retried cheaply: both sides take up the attempt it left, so
no point multiplied in the cut session is multiplied again, the responder sends the same canaries (an
initiator comparing the two attempts cannot pick them out), and the retry ends exactly as an uncut full
session would. A policy with no epochs keeps no attempt: every session has fresh scalars.

Both nodes are real, in-process over mutual TLS; the cut comes from an initiator that drops the call part-way
(the real session with that one behaviour changed).
"""

from __future__ import annotations

import fcntl
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from crypto import BlindingKey
from matcher.psi import Elements, Message, PsiSession, Role
from matcher.psi.epoch import EpochSession
from matcher.psi.session import CANARIES
from node.core.clock import ago_iso
from node.matching import runner
from node.matching.steps import MIN_CHARGE, QUOTA_WINDOW_S
from node.store import open_database
from node.store.sessions import keys_charged_since
from tests.integration.conftest import Federation
from tests.integration.test_epochs import _current, _roll
from tests.waiting import wait_until

pytestmark = pytest.mark.timeout(180)

NL, DE = "NL-NP", "DE-BKA"
CHUNK = 8  # small chunks, so a cut lands part-way through the sets the fixture's cases hold
ALL_IN = -1


class _DropsTheCall(Exception):
    """The initiator leaves part-way (the node cancels its stream on any failure)."""


class _Watch:
    """What the sessions of one test did: each session's scalar, the points each scalar multiplied, and
    every element the initiator received from the responder."""

    def __init__(self) -> None:
        self.sessions: list[PsiSession] = []
        self.multiplied: Counter[bytes] = Counter()
        self.received: list[set[bytes]] = []
        # The initiator drops the call after answering this many chunks (ALL_IN: once it holds every element
        # the responder sends; None: it stays to the end).
        self.cut_after: int | None = None

    def scalar(self, role: Role, attempt: int) -> bytes:
        return [s for s in self.sessions if s.role is role][attempt]._key.secret_bytes()


@pytest.fixture
def watch(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Watch]:
    seen = _Watch()
    original = BlindingKey.blind

    def counted(key: BlindingKey, elements: Sequence[bytes]) -> list[bytes]:
        seen.multiplied[key.secret_bytes()] += len(elements)
        return original(key, elements)

    monkeypatch.setattr(BlindingKey, "blind", counted)

    def watched(base: type[PsiSession]) -> type[PsiSession]:
        class Watched(base):  # type: ignore[valid-type, misc]
            def __init__(self, **kwargs: Any) -> None:
                super().__init__(**kwargs)
                self._chunk = CHUNK
                seen.sessions.append(self)
                if self.role is Role.INITIATOR:
                    seen.received.append(set())
                    setattr(self, "receive", self._recording(self.receive, seen.received[-1]))  # noqa: B010
                    setattr(self, "_queue_answers", self._cutting(self._queue_answers))  # noqa: B010

            def _recording(self, receive: Callable[[Message], Any], into: set[bytes]) -> Callable[[Message], Any]:
                def record(message: Message) -> Any:
                    if isinstance(message, Elements):
                        into.update(message.data[i : i + 32] for i in range(0, len(message.data), 32))
                    return receive(message)

                return record

            def _cutting(self, queue: Callable[[list[bytes]], None]) -> Callable[[list[bytes]], None]:
                answered = [0]

                def answer(tags: list[bytes]) -> None:
                    cut = seen.cut_after
                    if cut == ALL_IN and self._peer_received == self._peer_elements:
                        raise _DropsTheCall("leaves with every element the responder sends")
                    if cut is not None and cut != ALL_IN and answered[0] >= cut:
                        raise _DropsTheCall("leaves part-way")
                    answered[0] += 1
                    queue(tags)

                return answer

        return Watched

    monkeypatch.setattr(runner, "PsiSession", watched(PsiSession))
    monkeypatch.setattr(runner, "EpochSession", watched(EpochSession))
    yield seen


def _attempt_file(fed: Federation, code: str, peer: str, role: str) -> Path:
    return fed.home(code) / "attempts" / f"{peer}.{role}"


def _released(path: Path) -> bool:
    """No session holds the attempt any more (whatever it was computing when cut has been written)."""
    if not path.exists():
        return True
    with path.open("rb") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return True


def _cut(fed: Federation, watch: _Watch, answered: int) -> None:
    """One session from NL-NP that its initiator drops after answering ``answered`` chunks."""
    watch.cut_after = answered
    outcome = fed.match(NL, DE)
    watch.cut_after = None
    assert outcome.status == "failed", outcome
    wait_until(lambda: any(name == "session.failed" for name, _ in fed.audit_details(DE)), 30, "DE to record it")
    for code, peer, role in ((NL, DE, "initiator"), (DE, NL, "responder")):
        path = _attempt_file(fed, code, peer, role)
        wait_until(lambda path=path: _released(path), 30, f"{code} to let go of its attempt")  # type: ignore[misc]


def test_a_cut_full_session_is_retried_without_multiplying_anything_twice(
    federation: Federation, watch: _Watch
) -> None:
    fed = federation
    _cut(fed, watch, answered=2)
    cut_work = {role: watch.multiplied[watch.scalar(role, 0)] for role in Role}
    assert all(count > 0 for count in cut_work.values()), cut_work
    assert _attempt_file(fed, NL, DE, "initiator").stat().st_size > 0
    assert _attempt_file(fed, DE, NL, "responder").stat().st_size > 0

    retried = fed.match(NL, DE)
    assert retried.status == "completed" and retried.kind == "full", retried
    # Each side took up its attempt: the same scalar, and together the two sessions multiplied each point
    # once -- the initiator its own elements and the responder's (with the canaries), the responder its own
    # and the initiator's -- which is what one uncut session multiplies.
    for role in Role:
        assert watch.scalar(role, 1) == watch.scalar(role, 0), role
    n_initiator, n_responder = retried.own_size, retried.peer_size
    assert watch.multiplied[watch.scalar(Role.INITIATOR, 0)] == n_initiator + n_responder + CANARIES
    assert watch.multiplied[watch.scalar(Role.RESPONDER, 0)] == n_responder + n_initiator
    assert cut_work[Role.INITIATOR] < n_initiator + n_responder + CANARIES
    # A completed session leaves no attempt behind.
    assert not _attempt_file(fed, NL, DE, "initiator").exists()
    assert not _attempt_file(fed, DE, NL, "responder").exists()
    alerted = _current(fed, NL), _current(fed, DE)
    assert alerted[0] and alerted[1]

    # The reference: a fresh full session, fresh scalars and no attempt, ends with the same matches.
    for code, side in ((NL, "initiator"), (DE, "responder")):
        _roll(fed, code, side)
    fresh = fed.match(NL, DE)
    assert fresh.status == "completed" and fresh.kind == "full", fresh
    assert watch.scalar(Role.INITIATOR, 2) != watch.scalar(Role.INITIATOR, 0)
    assert watch.scalar(Role.RESPONDER, 2) != watch.scalar(Role.RESPONDER, 0)
    assert fresh.intersection == retried.intersection and fresh.own_size == retried.own_size
    assert (_current(fed, NL), _current(fed, DE)) == alerted
    counts = Counter((a["case_ref"], a["peer"]) for a in fed.alerts(NL) if a["match_state"] == "current")
    assert all(n == 1 for n in counts.values()), counts


def test_an_initiator_comparing_two_attempts_cannot_pick_out_the_canaries(
    federation: Federation, watch: _Watch
) -> None:
    fed = federation
    # Each time the cheater stays until it holds every element the responder sends, then leaves.
    _cut(fed, watch, answered=ALL_IN)
    _cut(fed, watch, answered=ALL_IN)
    first, second = watch.received
    # The responder's elements, blinded under its kept scalar, and its canaries: the same both times, so
    # the difference between the attempts (which would be the canaries, were they fresh) is empty.
    initiator = next(s for s in watch.sessions if s.role is Role.INITIATOR)
    assert len(first) == initiator.peer_size + CANARIES
    assert not first ^ second, f"{len(first ^ second)} elements differ between the attempts"


def test_a_policy_that_keeps_no_epochs_keeps_no_attempt(federation: Federation, watch: _Watch) -> None:
    fed = federation
    fed.cli(NL, "peers", "update", DE, "--epoch", "none")
    fed.cli(DE, "peers", "update", NL, "--epoch", "none")
    _cut(fed, watch, answered=ALL_IN)
    _cut(fed, watch, answered=ALL_IN)
    first, second = watch.received
    # Fresh scalars and fresh canaries each time: nothing the two attempts sent is the same.
    assert first and not first & second, f"{len(first & second)} elements alike in both attempts"
    for role in Role:
        assert watch.scalar(role, 1) != watch.scalar(role, 0), role
    assert not (fed.home(NL) / "attempts").exists() or not any((fed.home(NL) / "attempts").iterdir())
    assert not (fed.home(DE) / "attempts").exists() or not any((fed.home(DE) / "attempts").iterdir())


def test_an_attempt_over_other_key_types_shares_nothing_with_the_cut_one(federation: Federation, watch: _Watch) -> None:
    # The initiator chooses the key types it asks for. Were the responder's attempt taken up over other key
    # types, its elements would differ and its canaries would not: what two attempts shared would be the
    # canaries. Bound to the key types, the second attempt is a fresh one.
    fed = federation
    _cut(fed, watch, answered=ALL_IN)
    fed.cli(NL, "peers", "update", DE, "--types", "phone")
    _cut(fed, watch, answered=ALL_IN)
    first, second = watch.received
    assert first and second and not first & second, f"{len(first & second)} elements alike in both attempts"
    assert watch.scalar(Role.RESPONDER, 1) != watch.scalar(Role.RESPONDER, 0)


def test_an_attempt_is_destroyed_when_a_side_takes_the_other_for_a_cheat(
    federation: Federation, watch: _Watch, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An initiator that garbles its answers is caught by the canaries and told so (ABORTED): having learned
    # how its answers fared, it must not get the same canaries again. Both sides drop their attempts.
    fed = federation
    original = PsiSession._queue_answers

    def garbled(self: PsiSession, tags: list[bytes]) -> None:
        original(self, [bytes(len(t)) for t in tags] if self.role is Role.INITIATOR else tags)

    monkeypatch.setattr(PsiSession, "_queue_answers", garbled)
    outcome = fed.match(NL, DE)
    assert outcome.status == "failed" and "ABORTED" in (outcome.error or ""), outcome
    for code, peer, role in ((NL, DE, "initiator"), (DE, NL, "responder")):
        path = _attempt_file(fed, code, peer, role)
        wait_until(lambda path=path: not path.exists(), 30, f"{code}'s attempt to go")  # type: ignore[misc]


def test_a_removed_peer_takes_its_attempts_with_it(federation: Federation, watch: _Watch) -> None:
    fed = federation
    _cut(fed, watch, answered=2)
    assert _attempt_file(fed, NL, DE, "initiator").exists()
    fed.cli(NL, "peers", "remove", DE)
    assert not _attempt_file(fed, NL, DE, "initiator").exists()


def test_every_cut_attempt_is_charged_like_any_session(federation: Federation, watch: _Watch) -> None:
    fed = federation
    _cut(fed, watch, answered=2)
    _cut(fed, watch, answered=2)
    with closing(open_database(fed.home(DE) / "casebridge.db")) as db:
        charged = keys_charged_since(db, NL, ago_iso(QUOTA_WINDOW_S), MIN_CHARGE)
    assert charged >= 2 * MIN_CHARGE, charged
