"""Cheating peers over real gRPC and mutual TLS: each is the real node with one behaviour of its session
changed. The honest node either gets its true result or records ``peer-misbehaved`` with an audit entry,
and the cheater learns nothing it would not have learned had it been honest."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from crypto import BlindingKey
from matcher.psi import PsiSession, Role
from matcher.psi.epoch import EpochSession
from node.config.settings import Address
from node.core.home import NodeHome
from node.matching import runner
from node.net.server import RunningServer, create_server
from node.net.tls import ConfigWatch
from tests.integration.conftest import Federation
from tests.integration.raw import credentials, open_channel, open_frame, raw_match
from tests.waiting import wait_until

pytestmark = pytest.mark.timeout(180)

INITIATOR, RESPONDER = "NL-NP", "DE-BKA"


def _cheating(monkeypatch: pytest.MonkeyPatch, role: Role, **changes: Any) -> None:
    """The real session, with ``changes`` applied only on the cheating side (both nodes share a process)."""
    _sides(monkeypatch, {role: changes})


def _sides(monkeypatch: pytest.MonkeyPatch, changes_by_role: dict[Role, dict[str, Any]]) -> None:
    """Install the changes in both session kinds: a plain session and an epoch's (the default policy keeps
    epochs, so a first session between the nodes is an epoch's full session)."""

    def changed(base: type[PsiSession]) -> type[PsiSession]:
        class Cheating(base):  # type: ignore[valid-type, misc]
            def __init__(self, **kwargs: Any) -> None:
                super().__init__(**kwargs)
                for name, change in changes_by_role.get(self.role, {}).items():
                    setattr(self, name, change(self))

        return Cheating

    monkeypatch.setattr(runner, "PsiSession", changed(PsiSession))
    monkeypatch.setattr(runner, "EpochSession", changed(EpochSession))


def _garbling(fraction: float) -> Any:
    def change(session: PsiSession) -> Any:
        queue = session._queue_answers
        rng = random.Random(11)

        def garbled(tags: list[bytes]) -> None:
            queue([rng.randbytes(len(t)) if rng.random() < fraction else t for t in tags])

        return garbled

    return change


def _withholding(session: PsiSession) -> Any:
    def release() -> None:
        return None  # records, learns, and never sends the initiator its Result

    return release


class _WalksAway(Exception):
    """The cheating initiator drops the call (the node cancels its stream on any failure)."""


def _walking_away(session: PsiSession) -> Any:
    def leave(tags: list[bytes]) -> None:
        raise _WalksAway("holds the responder's blinded elements and leaves without answering")

    return leave


def _answering_all_but_the_last(session: PsiSession) -> Any:
    queue = session._queue_answers

    def hold_back(tags: list[bytes]) -> None:
        # The stream stays open; the final answer never comes.
        last = session._answers_sent + len(tags) == session._peer_elements
        queue(tags[:-1] if last else tags)

    return hold_back


def _events(fed: Federation, code: str, event: str) -> list[dict[str, Any]]:
    return [detail for name, detail in fed.audit_details(code) if name == event]


@pytest.fixture
def honest_counts(federation: Federation) -> Iterator[tuple[int, int]]:
    yield len(federation.alerts(INITIATOR)), len(federation.alerts(RESPONDER))


def _swapping(session: PsiSession) -> Any:
    queue = session._queue_answers

    def swapped(tags: list[bytes]) -> None:
        queue(tags[1::2] + tags[0::2])  # every answer, each at another element's place

    return swapped


def _another_scalar(session: PsiSession) -> Any:
    start = session.start

    def start_then_switch() -> None:
        start()  # the Open commits to A = a.G ...
        session._key = BlindingKey.generate(os.urandom)  # ... and every element and answer uses another scalar

    return start_then_switch


DEVIATIONS = {
    "all-answers-garbled": {"_queue_answers": _garbling(1.0)},
    "5-percent-garbled": {"_queue_answers": _garbling(0.05)},
    "answers-swapped": {"_queue_answers": _swapping},
    "another-scalar": {"start": _another_scalar},
}


@pytest.mark.parametrize("deviation", list(DEVIATIONS))
def test_an_initiator_garbling_answers_is_caught_and_learns_nothing(
    federation: Federation, monkeypatch: pytest.MonkeyPatch, deviation: str
) -> None:
    _sides(monkeypatch, {Role.INITIATOR: DEVIATIONS[deviation]})
    outcome = federation.match(INITIATOR, RESPONDER)
    assert outcome.status == "failed" and "ABORTED" in (outcome.error or ""), outcome.error
    misbehaved = _events(federation, RESPONDER, "session.misbehaved")
    assert len(misbehaved) == 1 and misbehaved[0]["status"] == "ABORTED"
    assert misbehaved[0]["reason"].startswith("peer-misbehaved: its answers missed")
    # No Result left the responder: the cheater has no alert, and neither side recorded a hit.
    assert federation.alerts(INITIATOR) == [] and federation.alerts(RESPONDER) == []
    # Operators see it: the node's health answer names the peer and the count, and the audit list finds it.
    address = f"127.0.0.1:{federation.ports[RESPONDER]}"
    health = federation.cli(RESPONDER, "health", "--address", address, "--json").json()
    assert health["status"] == "SERVING" and health["misbehaved_24h"] == {INITIATOR: 1}
    text = federation.cli(RESPONDER, "health", "--address", address)
    assert text.stdout.strip() == "SERVING"
    assert f"1 session(s) in the last 24 hours ended as peer-misbehaved ({INITIATOR} 1)" in text.stderr
    listed = federation.cli(RESPONDER, "audit", "list", "--event", "session.misbehaved", "--json").json()
    assert [e["event"] for e in listed] == ["session.misbehaved"]


def test_a_responder_withholding_the_result_is_recorded_as_misbehaved(
    federation: Federation, monkeypatch: pytest.MonkeyPatch
) -> None:
    _cheating(monkeypatch, Role.RESPONDER, release_result=_withholding)
    outcome = federation.match(INITIATOR, RESPONDER)
    assert outcome.status == "failed" and "peer-misbehaved" in (outcome.error or ""), outcome.error
    misbehaved = _events(federation, INITIATOR, "session.misbehaved")
    assert len(misbehaved) == 1 and "withheld the result" in misbehaved[0]["reason"]
    assert federation.alerts(INITIATOR) == []


def test_an_initiator_cancelling_after_our_elements_learns_nothing(
    federation: Federation, monkeypatch: pytest.MonkeyPatch
) -> None:
    _cheating(monkeypatch, Role.INITIATOR, _queue_answers=_walking_away)
    outcome = federation.match(INITIATOR, RESPONDER)
    assert outcome.status == "failed", outcome
    ended = wait_until(lambda: _events(federation, RESPONDER, "session.failed"), 30, "the responder to record it")
    assert ended[-1]["status"] == "CANCELLED" and "cancelled" in ended[-1]["reason"]
    # The cheater holds only blinded elements, never a Result: no hit on either side, nothing withheld
    # from us (we had learned nothing either), and the session still cost it its floor charge.
    assert federation.alerts(INITIATOR) == [] and federation.alerts(RESPONDER) == []
    assert _events(federation, RESPONDER, "session.misbehaved") == []


def test_an_initiator_that_never_sends_its_last_answer_is_cut_and_learns_nothing(
    idle_federation: Federation, monkeypatch: pytest.MonkeyPatch
) -> None:
    fed = idle_federation
    fed.serve_in_process(INITIATOR)

    async def start() -> RunningServer:
        # A short idle timeout so the stall is cut within the test; the deadline test covers the long path.
        return await create_server(ConfigWatch(NodeHome(fed.home(RESPONDER))), Address("127.0.0.1", 0),
                                   idle_timeout=3.0)  # fmt: skip

    server = fed.loop.run(start())
    fed.servers[RESPONDER], fed.ports[RESPONDER] = server, server.port
    fed.publish_addresses()
    _cheating(monkeypatch, Role.INITIATOR, _queue_answers=_answering_all_but_the_last)
    outcome = fed.match(INITIATOR, RESPONDER)
    assert outcome.status == "failed" and "DEADLINE_EXCEEDED" in (outcome.error or ""), outcome.error
    ended = _events(fed, RESPONDER, "session.failed")
    assert ended[-1]["status"] == "DEADLINE_EXCEEDED"
    assert fed.alerts(INITIATOR) == [] and fed.alerts(RESPONDER) == []


def test_garbling_exactly_the_matched_answers_gains_the_initiator_nothing(
    federation: Federation, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The attack commit-then-reveal exists to stop: the side answering second garbles exactly the answers
    that would match. In version 2 the initiator never sees a doubly blinded value of its own elements,
    so it cannot know which answers match; this cheater is handed that knowledge by an oracle (the
    responder's session in the same process) and still learns nothing: its Result is empty."""
    sessions: list[PsiSession] = []

    def record(session: PsiSession) -> Any:
        sessions.append(session)
        return session.receive

    def targeting(session: PsiSession) -> Any:
        queue = session._queue_answers

        def garble_matches(tags: list[bytes]) -> None:
            responder = next(s for s in sessions if s.role is Role.RESPONDER)
            first = session._answers_sent
            hits = {i for i, e in enumerate(responder._sending) if e in session._positions}
            queue([bytes(len(t)) if first + i in hits else t for i, t in enumerate(tags)])

        return garble_matches

    honest = federation.match(INITIATOR, RESPONDER)
    assert honest.status == "completed" and honest.intersection > 0
    # A policy change ends the epoch the honest session opened: the cheating session is a full one again.
    federation.cli(INITIATOR, "peers", "update", RESPONDER, "--daily-quota", "900000")
    _sides(monkeypatch, {Role.INITIATOR: {"_queue_answers": targeting}, Role.RESPONDER: {"receive": record}})
    outcome = federation.match(INITIATOR, RESPONDER)
    assert outcome.status == "completed" and outcome.kind == "full" and outcome.intersection == 0, outcome
    completed = _events(federation, RESPONDER, "session.completed")
    assert completed[-1]["intersection"] == 0


def test_an_honest_pair_agrees_on_the_result_and_the_handles(federation: Federation) -> None:
    outcome = federation.match(INITIATOR, RESPONDER)
    assert outcome.status == "completed", outcome.error
    ours, theirs = federation.alerts(INITIATOR), federation.alerts(RESPONDER)
    assert len(ours) == len(theirs) > 0
    handles = {k["match_handle"] for a in ours for k in a["keys"]}
    assert handles == {k["match_handle"] for a in theirs for k in a["keys"]}


def test_a_version_one_open_is_refused_before_any_work(federation: Federation) -> None:
    port = federation.ports[RESPONDER]

    async def attempt() -> tuple[grpc.StatusCode, str]:
        creds = credentials(federation.home(RESPONDER), federation.home(INITIATOR))
        async with open_channel(port, creds) as channel:
            outcome = await raw_match(channel, [open_frame(5, protocol_version=0)], timeout=10)
            return outcome.code, outcome.details

    code, details = federation.loop.run(attempt())
    assert code is grpc.StatusCode.FAILED_PRECONDITION
    assert "protocol version 1" in details and "speaks version 2" in details
    refused = _events(federation, RESPONDER, "session.refused")
    assert refused and refused[-1]["status"] == "FAILED_PRECONDITION"
