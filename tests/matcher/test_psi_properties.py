"""Both modes give exactly what plain set operations give."""

from __future__ import annotations

from collections import deque

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matcher.psi import CANARIES, Elements, Message, Mode, PolicyRefused, Result, SessionCompleted, State
from matcher.psi.session import MAX_AHEAD_CHUNKS
from tests.matcher.psi_helpers import POOL, pair, pump

index_lists = st.lists(st.integers(min_value=0, max_value=len(POOL) - 1), max_size=20)


@given(index_lists, index_lists, st.integers(min_value=1, max_value=7), st.integers(0, 2**32))
@settings(max_examples=60, deadline=None)
def test_mutual_reveal_equals_set_intersection(ours: list[int], theirs: list[int], chunk: int, seed: int) -> None:
    initiator, responder = pair([POOL[i] for i in ours], [POOL[i] for i in theirs], Mode.MUTUAL, seed, chunk)
    pump(initiator, responder)
    common = set(ours) & set(theirs)
    assert initiator.state is State.DONE and responder.state is State.DONE
    assert initiator.result is not None and responder.result is not None
    assert initiator.result.matched == frozenset(i for i, v in enumerate(ours) if v in common)
    assert responder.result.matched == frozenset(i for i, v in enumerate(theirs) if v in common)
    assert initiator.result.intersection_size == responder.result.intersection_size == len(common)
    assert initiator.result.peer_size == len(set(theirs))
    assert responder.result.peer_size == len(set(ours))


@given(index_lists, index_lists, st.integers(0, 2**32))
@settings(max_examples=40, deadline=None)
def test_count_only_reveals_only_the_size(ours: list[int], theirs: list[int], seed: int) -> None:
    initiator, responder = pair([POOL[i] for i in ours], [POOL[i] for i in theirs], Mode.COUNT_ONLY, seed)
    pump(initiator, responder)
    common = set(ours) & set(theirs)
    for side in (initiator, responder):
        assert side.result is not None
        assert side.result.matched is None
        assert side.result.intersection_size == len(common)


def test_edge_cases_empty_disjoint_identical() -> None:
    cases = [([], []), ([], [1, 2]), ([1, 2], []), ([1, 2], [3, 4]), ([1, 2, 3], [1, 2, 3]), ([5, 5, 5], [5])]
    for ours, theirs in cases:
        for mode in Mode:
            initiator, responder = pair([POOL[i] for i in ours], [POOL[i] for i in theirs], mode)
            pump(initiator, responder)
            assert initiator.result is not None and responder.result is not None
            assert initiator.result.intersection_size == len(set(ours) & set(theirs)), (ours, theirs, mode)


def test_completion_is_reported_once_as_an_event() -> None:
    initiator, responder = pair(POOL[:4], POOL[2:6], Mode.MUTUAL, chunk_size=2)
    initiator.start()
    events = []
    inbox_r = initiator.outbox()
    while inbox_r:
        for m in inbox_r:
            events += responder.receive(m)
        if responder.state is State.DONE and not any(isinstance(e, SessionCompleted) for e in events[:-1]):
            responder.release_result()
        inbox_i = responder.outbox()
        inbox_r = []
        for m in inbox_i:
            events += initiator.receive(m)
        inbox_r = initiator.outbox()
    completed = [e for e in events if isinstance(e, SessionCompleted)]
    assert len(completed) == 2


def test_duplicates_are_sent_once() -> None:
    initiator, responder = pair([POOL[0]] * 5 + [POOL[1]], [POOL[0]], Mode.MUTUAL, chunk_size=100)
    transcript = pump(initiator, responder)
    sent = [m for d, m in transcript if d == "i->r" and isinstance(m, Elements)]
    assert sum(len(m.data) for m in sent) == 2 * 32
    assert initiator.result is not None
    assert initiator.result.matched == frozenset({0, 1, 2, 3, 4})


def test_own_elements_are_produced_lazily_within_the_budget() -> None:
    initiator, responder = pair(POOL[:10], POOL[5:15], Mode.MUTUAL, chunk_size=4)
    initiator.start()
    for m in initiator.outbox():
        responder.receive(m)
    first = responder.outbox(max_chunks=1)
    assert [type(m).__name__ for m in first] == ["Accept", "Elements"]
    assert responder.pending_output
    chunks = -(-(10 + CANARIES) // 4) - 1  # its 10 elements and the canaries, 4 to a chunk
    assert [type(m).__name__ for m in responder.outbox(max_chunks=chunks - 1)] == ["Elements"] * (chunks - 1)
    assert responder.pending_output
    assert [type(m).__name__ for m in responder.outbox(max_chunks=5)] == ["Elements"]
    assert not responder.pending_output


def test_progress_counters_follow_the_exchange() -> None:
    initiator, responder = pair(POOL[:6], POOL[3:8], Mode.MUTUAL, chunk_size=2)
    assert (initiator.elements_sent, initiator.elements_received) == (0, 0)
    pump(initiator, responder)
    assert (initiator.elements_sent, initiator.elements_received) == (6, 5 + CANARIES)
    assert (responder.elements_sent, responder.elements_received) == (5 + CANARIES, 6)


@given(index_lists, index_lists, st.integers(min_value=1, max_value=7), st.integers(0, 12), st.integers(0, 2**32))
@settings(max_examples=40, deadline=None)
def test_blinding_ahead_of_the_accept_changes_nothing_on_the_wire(
    ours: list[int], theirs: list[int], chunk: int, ahead: int, seed: int
) -> None:
    # An initiator that blinds some chunks while it waits for the Accept sends, byte for byte, what one
    # that waited sends: the same messages in the same order, and none of its elements before the Accept.
    waited = pair([POOL[i] for i in ours], [POOL[i] for i in theirs], Mode.MUTUAL, seed, chunk)
    plain = pump(*waited)
    initiator, responder = pair([POOL[i] for i in ours], [POOL[i] for i in theirs], Mode.MUTUAL, seed, chunk)
    initiator.start()
    opening = initiator.outbox()
    for _ in range(ahead):
        initiator.blind_ahead()
        assert initiator.outbox() == [] and not initiator.pending_output
    assert initiator.can_blind_ahead == (min(ahead, MAX_AHEAD_CHUNKS) * chunk < len(set(ours)))
    transcript: list[tuple[str, Message]] = []
    queue = deque((responder, m) for m in opening)
    while queue:
        target, message = queue.popleft()
        transcript.append(("i->r" if target is responder else "r->i", message))
        target.receive(message)
        done = target is responder and responder.state is State.DONE and not responder.pending_output
        if done and not any(isinstance(m, Result) for _, m in transcript):
            responder.release_result()
        other = initiator if target is responder else responder
        queue.extend((other, m) for m in target.outbox())
    assert transcript == plain
    assert initiator.result == waited[0].result and initiator.result is not None


def test_chunks_blinded_ahead_never_leave_when_the_accept_is_refused() -> None:
    # The Accept announces more elements than the initiator takes: the session fails, and the chunks it had
    # blinded while it waited are dropped, not sent after the refusal.
    initiator, responder = pair(POOL[:20], POOL[10:40], Mode.MUTUAL, 3, 4)
    initiator._max_peer = 5
    initiator.start()
    opening = initiator.outbox()
    for _ in range(3):
        initiator.blind_ahead()
    responder.receive(opening[0])
    accept = responder.outbox(0)[0]
    with pytest.raises(PolicyRefused):
        initiator.receive(accept)
    assert initiator.state is State.ERROR and initiator.outbox() == [] and not initiator.pending_output
