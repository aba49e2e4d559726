"""Cheating peers over real gRPC and mutual TLS: each is the real node with one behaviour of its session
changed. The honest node either gets its true result or records ``peer-misbehaved`` with an audit entry,
and the cheater learns nothing it would not have learned had it been honest."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from matcher.psi import PsiSession, Role
from node.matching import runner
from tests.integration.conftest import Federation
from tests.integration.raw import credentials, open_channel, open_frame, raw_match

pytestmark = pytest.mark.timeout(180)

INITIATOR, RESPONDER = "NL-NP", "DE-BKA"


def _cheating(role: Role, **changes: Any) -> type[PsiSession]:
    """The real session, with ``changes`` applied only on the cheating side (both nodes share a process)."""

    class Cheating(PsiSession):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            if self.role is role:
                for name, change in changes.items():
                    setattr(self, name, change(self))

    return Cheating


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


def _events(fed: Federation, code: str, event: str) -> list[dict[str, Any]]:
    return [detail for name, detail in fed.audit_details(code) if name == event]


@pytest.fixture
def honest_counts(federation: Federation) -> Iterator[tuple[int, int]]:
    yield len(federation.alerts(INITIATOR)), len(federation.alerts(RESPONDER))


@pytest.mark.parametrize("fraction", [1.0, 0.05], ids=["all-answers", "5-percent"])
def test_an_initiator_garbling_answers_is_caught_and_learns_nothing(
    federation: Federation, monkeypatch: pytest.MonkeyPatch, fraction: float
) -> None:
    monkeypatch.setattr(runner, "PsiSession", _cheating(Role.INITIATOR, _queue_answers=_garbling(fraction)))
    outcome = federation.match(INITIATOR, RESPONDER)
    assert outcome.status == "failed" and "ABORTED" in (outcome.error or ""), outcome.error
    misbehaved = _events(federation, RESPONDER, "session.misbehaved")
    assert len(misbehaved) == 1 and misbehaved[0]["status"] == "ABORTED"
    assert misbehaved[0]["reason"].startswith("peer-misbehaved: its answers missed")
    # No Result left the responder: the cheater has no alert, and neither side recorded a hit.
    assert federation.alerts(INITIATOR) == [] and federation.alerts(RESPONDER) == []


def test_a_responder_withholding_the_result_is_recorded_as_misbehaved(
    federation: Federation, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner, "PsiSession", _cheating(Role.RESPONDER, release_result=_withholding))
    outcome = federation.match(INITIATOR, RESPONDER)
    assert outcome.status == "failed" and "peer-misbehaved" in (outcome.error or ""), outcome.error
    misbehaved = _events(federation, INITIATOR, "session.misbehaved")
    assert len(misbehaved) == 1 and "withheld the result" in misbehaved[0]["reason"]
    assert federation.alerts(INITIATOR) == []


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
