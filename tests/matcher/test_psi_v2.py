"""Protocol version 2: the responder decides, canaries catch answers that were not honestly computed, the
initiator learns only the Result, and a withheld or malformed Result is detected.

Each cheating initiator here is the real session with one behaviour changed on the way out.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from crypto import DEFAULT_SUITE, BlindingKey, tags_of
from matcher.psi import (
    CANARIES,
    PROTOCOL_VERSION,
    Accept,
    Elements,
    Message,
    Mode,
    Open,
    PeerMisbehaved,
    PsiSession,
    RemoteProtocolError,
    Result,
    State,
    Tags,
    VersionMismatch,
)
from tests.matcher.psi_helpers import POOL, pair, pump

SUITE = DEFAULT_SUITE.name
Tamper = Callable[[PsiSession, list[bytes]], list[bytes]]


def _cheat(initiator: PsiSession, tamper: Tamper) -> None:
    """Route the initiator's answers through ``tamper`` before they leave."""
    queue = initiator._queue_answers

    def tampered(tags: list[bytes]) -> None:
        queue(tamper(initiator, list(tags)))

    initiator._queue_answers = tampered  # type: ignore[method-assign]


def _garble(fraction: float, seed: int = 5) -> Tamper:
    rng = random.Random(seed)

    def tamper(_: PsiSession, tags: list[bytes]) -> list[bytes]:
        return [rng.randbytes(len(t)) if rng.random() < fraction else t for t in tags]

    return tamper


@pytest.mark.parametrize("mode", list(Mode), ids=lambda m: m.value)
@pytest.mark.parametrize("fraction", [1.0, 0.05], ids=["all", "5-percent"])
def test_garbled_answers_miss_canaries_and_end_as_misbehaved(mode: Mode, fraction: float) -> None:
    initiator, responder = pair(POOL[:40], POOL[20:60], mode, chunk_size=7)
    _cheat(initiator, _garble(fraction))
    with pytest.raises(PeerMisbehaved, match=f"peer-misbehaved: its answers missed [0-9]+ of our {CANARIES}"):
        pump(initiator, responder)
    assert responder.state is State.ERROR and responder.result is None
    assert initiator.result is None  # no Result left the responder


def test_answers_under_another_scalar_miss_canaries() -> None:
    initiator, responder = pair(POOL[:10], POOL[5:15], Mode.MUTUAL)
    start = initiator.start

    def start_then_switch() -> None:
        start()  # the Open commits to one scalar ...
        initiator._key = BlindingKey(b"\x07" * 32)  # ... and everything after uses another

    initiator.start = start_then_switch  # type: ignore[method-assign]
    with pytest.raises(PeerMisbehaved, match=f"missed {CANARIES} of our {CANARIES}"):
        pump(initiator, responder)


def test_canaries_are_answered_like_any_element_by_an_honest_initiator() -> None:
    initiator, responder = pair(POOL[:10], POOL[5:15], Mode.MUTUAL)
    transcript = pump(initiator, responder)
    results = [m for d, m in transcript if isinstance(m, Result)]
    assert results == [Result(5, tuple(sorted(initiator._sending.index(e) for e in POOL[5:10])))]
    assert initiator.result is not None and responder.result is not None
    assert initiator.result.matched == frozenset(range(5, 10))
    assert responder.result.matched == frozenset(range(5))
    sent = b"".join(m.data for d, m in transcript if d == "r->i" and isinstance(m, Elements))
    assert len(sent) == 32 * (10 + CANARIES)


def test_a_canary_is_a_public_key_and_its_answer_is_fixed_by_the_initiators_commitment() -> None:
    initiator, responder = pair(POOL[:2], POOL[:2], Mode.MUTUAL)
    initiator.start()
    opened = initiator.outbox()[0]
    assert isinstance(opened, Open) and opened.public_key == initiator._key.public_key()
    responder.receive(opened)
    for element, number in responder._canaries.items():
        assert tags_of(initiator._key.blind([element]), responder.tag_length)[0] == responder._canary_tags[number]


def test_a_withheld_result_is_detected_once_every_answer_is_out() -> None:
    initiator, responder = pair(POOL[:8], POOL[4:12], Mode.MUTUAL)
    assert initiator.ended_early() is None
    pump(initiator, responder, release=False)
    assert responder.state is State.DONE and initiator.state is State.EXCHANGE
    withheld = initiator.ended_early()
    assert isinstance(withheld, PeerMisbehaved) and str(withheld).startswith("peer-misbehaved:")


def test_an_ending_before_our_answers_are_out_is_no_misbehaviour() -> None:
    initiator, responder = pair(POOL[:8], POOL[4:12], Mode.MUTUAL)
    initiator.start()
    responder.receive(initiator.outbox()[0])
    initiator.receive(responder.outbox(max_chunks=0)[0])
    assert initiator.ended_early() is None


def _awaiting(mode: Mode) -> tuple[PsiSession, PsiSession]:
    initiator, responder = pair(POOL[:8], POOL[4:12], mode)
    pump(initiator, responder, release=False)
    return initiator, responder


@pytest.mark.parametrize(
    ("mode", "result", "match"),
    [
        (Mode.MUTUAL, Result(2, (3, 1)), "ascending"),
        (Mode.MUTUAL, Result(2, (1, 1)), "ascending"),
        (Mode.MUTUAL, Result(3, (1, 2)), "ascending"),
        (Mode.MUTUAL, Result(1, (8,)), "did not send"),
        (Mode.COUNT_ONLY, Result(1, (0,)), "no positions"),
        (Mode.COUNT_ONLY, Result(9), "more matches"),
    ],
)
def test_a_malformed_result_is_refused(mode: Mode, result: Result, match: str) -> None:
    initiator, _ = _awaiting(mode)
    with pytest.raises(RemoteProtocolError, match=match):
        initiator.receive(result)
    assert initiator.result is None


def test_a_result_before_all_our_answers_is_refused() -> None:
    initiator, responder = pair(POOL[:8], POOL[4:12], Mode.MUTUAL)
    initiator.start()
    responder.receive(initiator.outbox()[0])
    initiator.receive(responder.outbox(max_chunks=0)[0])
    with pytest.raises(RemoteProtocolError, match="before it had all our answers"):
        initiator.receive(Result(0))


def test_only_the_responder_sends_a_result_and_only_after_deciding() -> None:
    _, responder = pair(POOL[:2], POOL[:2], Mode.MUTUAL)
    with pytest.raises(RemoteProtocolError):
        responder.receive(Result(0))
    initiator2, responder2 = pair(POOL[:2], POOL[:2], Mode.MUTUAL)
    initiator2.start()
    responder2.receive(initiator2.outbox()[0])
    with pytest.raises(Exception, match="only a responder that has decided"):
        responder2.release_result()


def test_an_initiator_sends_no_elements_tags_to_the_responder_only() -> None:
    # The responder answers nothing: its only frames are Accept, its elements and the Result.
    initiator, responder = pair(POOL[:6], POOL[3:9], Mode.MUTUAL, chunk_size=50)
    kinds = {type(m).__name__ for d, m in pump(initiator, responder) if d == "r->i"}
    assert kinds == {"Accept", "Elements", "Result"}


@pytest.mark.parametrize("version", [0, 1, 3])
def test_another_protocol_version_is_refused_naming_it(version: int) -> None:
    _, responder = pair(POOL[:2], POOL[:2], Mode.MUTUAL)
    key = BlindingKey(b"\x05" * 32).public_key()
    with pytest.raises(VersionMismatch, match=f"protocol version {max(version, 1)}.*speaks version {PROTOCOL_VERSION}"):
        responder.receive(Open(SUITE, Mode.MUTUAL, 2, key, protocol_version=version))
    initiator, _ = pair(POOL[:2], POOL[:2], Mode.MUTUAL)
    initiator.start()
    with pytest.raises(VersionMismatch, match="answered with protocol version"):
        initiator.receive(Accept(SUITE, Mode.MUTUAL, 2, 8, protocol_version=version))


@pytest.mark.parametrize("key", [b"", bytes(32), b"\x01" * 31], ids=["missing", "identity", "short"])
def test_an_invalid_public_key_is_refused(key: bytes) -> None:
    _, responder = pair(POOL[:2], POOL[:2], Mode.MUTUAL)
    with pytest.raises(RemoteProtocolError, match="public key"):
        responder.receive(Open(SUITE, Mode.MUTUAL, 2, key))


def test_the_initiator_learns_exactly_what_the_responder_recorded() -> None:
    # Whatever the responder decided is what the initiator gets: a responder that records fewer hits
    # (here because the initiator garbled answers the canaries did not cover) hands over just those.
    initiator, responder = pair(POOL[:30], POOL[10:40], Mode.MUTUAL)
    transcript: list[tuple[str, Message]] = pump(initiator, responder)
    assert initiator.result is not None and responder.result is not None
    assert initiator.result.intersection_size == responder.result.intersection_size == 20
    assert {POOL[i] for i in initiator.result.matched or ()} == {POOL[10 + i] for i in responder.result.matched or ()}
    assert sum(isinstance(m, Tags) for d, m in transcript if d == "r->i") == 0
