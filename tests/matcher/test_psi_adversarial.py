"""Out-of-protocol messages are refused with the right error family, and the error is sticky."""

from __future__ import annotations

import pytest

from crypto import DEFAULT_SUITE
from crypto._field import P
from matcher.psi import (
    Accept,
    Elements,
    LocalProtocolError,
    Mode,
    Open,
    PeerMisbehaved,
    PolicyRefused,
    PsiSession,
    RemoteProtocolError,
    Role,
    State,
    Tags,
)
from tests.matcher.psi_helpers import POOL, pair, pump, seeded

SUITE = DEFAULT_SUITE.name


def _opened() -> tuple[PsiSession, PsiSession]:
    """Initiator has sent Open; responder has answered (Accept + its elements queued)."""
    initiator, responder = pair(POOL[:4], POOL[2:6], Mode.MUTUAL, chunk_size=2)
    initiator.start()
    for m in initiator.outbox():
        responder.receive(m)
    return initiator, responder


def test_responder_refuses_anything_before_open() -> None:
    _, responder = pair(POOL[:2], POOL[:2], Mode.MUTUAL)
    with pytest.raises(RemoteProtocolError, match="unexpected Elements"):
        responder.receive(Elements(POOL[0]))
    assert responder.state is State.ERROR


def test_open_twice_is_refused() -> None:
    _, responder = _opened()
    with pytest.raises(RemoteProtocolError, match="unexpected Open"):
        responder.receive(Open(SUITE, Mode.MUTUAL, 4))


def test_initiator_refuses_tags_before_accept() -> None:
    initiator, _ = pair(POOL[:2], POOL[:2], Mode.MUTUAL)
    initiator.start()
    with pytest.raises(RemoteProtocolError, match="unexpected Tags"):
        initiator.receive(Tags(b"\x00" * 8))


def test_duplicated_accept_is_refused() -> None:
    initiator, responder = _opened()
    accept = next(m for m in responder.outbox() if isinstance(m, Accept))
    initiator.receive(accept)
    with pytest.raises(RemoteProtocolError):
        initiator.receive(accept)


def test_truncated_elements_chunk_is_refused() -> None:
    initiator, responder = _opened()
    initiator.receive(next(m for m in responder.outbox() if isinstance(m, Accept)))
    with pytest.raises(RemoteProtocolError, match="whole number"):
        initiator.receive(Elements(POOL[0][:31]))


def test_empty_chunk_is_refused() -> None:
    initiator, responder = _opened()
    initiator.receive(next(m for m in responder.outbox() if isinstance(m, Accept)))
    with pytest.raises(RemoteProtocolError):
        initiator.receive(Elements(b""))


def test_more_elements_than_announced_are_refused() -> None:
    _, responder = _opened()
    with pytest.raises(RemoteProtocolError, match="more elements than it announced"):
        responder.receive(Elements(b"".join(POOL[10:15])))


def test_more_tags_than_elements_are_refused() -> None:
    # The responder has queued its Accept but sent none of its elements yet: no tag can answer one.
    _, responder = _opened()
    with pytest.raises(RemoteProtocolError, match="more tags"):
        responder.receive(Tags(b"\x01" * responder.tag_length * 5))


def test_tags_of_the_wrong_width_are_refused() -> None:
    _, responder = _opened()
    responder.outbox()
    with pytest.raises(RemoteProtocolError, match="whole number of tags"):
        responder.receive(Tags(b"\x01" * (responder.tag_length + 1)))


@pytest.mark.parametrize(
    "bad",
    [
        bytes(32),
        P.to_bytes(32, "little"),
        (P + 1).to_bytes(32, "little"),
        (2**255 - 1).to_bytes(32, "little"),
    ],
    ids=["identity-u0", "non-canonical-p", "non-canonical-p+1", "top-bit"],
)
def test_invalid_elements_end_the_session_as_remote_fault(bad: bytes) -> None:
    _, responder = _opened()
    with pytest.raises(RemoteProtocolError, match="invalid group element"):
        responder.receive(Elements(bad))
    assert responder.state is State.ERROR


def test_oversized_announcement_is_a_policy_refusal() -> None:
    _, responder = pair(POOL[:2], POOL[:2], Mode.MUTUAL, max_peer_set_size=3)
    with pytest.raises(PolicyRefused):
        responder.receive(Open(SUITE, Mode.MUTUAL, 4))


def test_negative_size_is_refused() -> None:
    _, responder = pair(POOL[:2], POOL[:2], Mode.MUTUAL)
    with pytest.raises(RemoteProtocolError, match="negative"):
        responder.receive(Open(SUITE, Mode.MUTUAL, -1))


def test_unknown_suite_is_refused() -> None:
    _, responder = pair(POOL[:2], POOL[:2], Mode.MUTUAL)
    with pytest.raises(RemoteProtocolError, match="suite"):
        responder.receive(Open("p256-sha256-v1", Mode.MUTUAL, 1))


def test_disallowed_mode_is_a_policy_refusal() -> None:
    responder = PsiSession(
        role=Role.RESPONDER,
        suite=DEFAULT_SUITE,
        elements=POOL[:2],
        random_bytes=seeded(1),
        allowed_modes=frozenset({Mode.COUNT_ONLY}),
    )
    with pytest.raises(PolicyRefused):
        responder.receive(Open(SUITE, Mode.MUTUAL, 1))


def test_accept_with_wrong_tag_length_or_mode_is_refused() -> None:
    for accept in (Accept(SUITE, Mode.MUTUAL, 4, 31), Accept(SUITE, Mode.COUNT_ONLY, 4, 8)):
        initiator, _ = pair(POOL[:4], POOL[:4], Mode.MUTUAL)
        initiator.start()
        with pytest.raises(RemoteProtocolError):
            initiator.receive(accept)


def test_errors_are_sticky_and_keep_their_fault() -> None:
    _, responder = pair(POOL[:2], POOL[:2], Mode.MUTUAL)
    with pytest.raises(RemoteProtocolError) as first:
        responder.receive(Tags(b"\x00" * 8))
    with pytest.raises(RemoteProtocolError) as second:
        responder.receive(Open(SUITE, Mode.MUTUAL, 1))
    assert second.value is first.value
    assert responder.outbox() == []


def test_local_misuse_is_our_fault() -> None:
    _, responder = pair(POOL[:2], POOL[:2], Mode.MUTUAL)
    with pytest.raises(LocalProtocolError):
        responder.start()
    with pytest.raises(LocalProtocolError):
        PsiSession(role=Role.INITIATOR, suite=DEFAULT_SUITE, elements=[], random_bytes=seeded(1))
    with pytest.raises(LocalProtocolError):
        PsiSession(role=Role.RESPONDER, suite=DEFAULT_SUITE, elements=[b"short"], random_bytes=seeded(1))


def test_messages_after_completion_are_refused() -> None:
    initiator, responder = pair(POOL[:3], POOL[1:4], Mode.MUTUAL)
    pump(initiator, responder)
    with pytest.raises(RemoteProtocolError, match="after the session completed"):
        responder.receive(Tags(b"\x00" * responder.tag_length))


def test_reordered_answers_are_caught_by_the_canaries() -> None:
    """An initiator that swaps its answers around (here: reverses them) misses the canaries' places."""
    initiator, responder = pair(POOL[:4], POOL[2:6], Mode.MUTUAL, chunk_size=1000)
    initiator.start()
    for m in initiator.outbox():
        responder.receive(m)
    accept, elements = responder.outbox()
    initiator.receive(accept)
    initiator.receive(elements)
    sent = initiator.outbox()
    answers = next(m for m in sent if isinstance(m, Tags))
    t = initiator.tag_length
    data = answers.data
    reversed_tags = b"".join(data[i : i + t] for i in range(len(data) - t, -1, -t))
    for m in sent:
        if isinstance(m, Elements):
            responder.receive(m)
    with pytest.raises(PeerMisbehaved, match=r"missed .* of our 256 canaries"):
        responder.receive(Tags(reversed_tags))
    assert responder.state is State.ERROR and responder.outbox() == []


def test_tags_before_our_elements_are_refused() -> None:
    """The responder has queued its own elements but none has been produced yet: no tag can answer them."""
    initiator, responder = pair(POOL[:4], POOL[2:6], Mode.MUTUAL, chunk_size=2)
    initiator.start()
    for m in initiator.outbox():
        responder.receive(m)
    with pytest.raises(RemoteProtocolError, match="more tags"):
        responder.receive(Tags(b"\x01" * responder.tag_length))
