"""Key epochs and delta sessions in the sans-io core: after any sequence of changes on both sides, each
side's matches are exactly the intersection of the two current sets, and a delta costs only the change."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto import DEFAULT_SUITE, BlindingKey
from matcher.psi import (
    CANARIES,
    Elements,
    LocalProtocolError,
    Message,
    Mode,
    Open,
    PeerMisbehaved,
    PolicyRefused,
    PsiSession,
    RemoteProtocolError,
    Result,
    Role,
    State,
    Tags,
)
from matcher.psi.epoch import EpochSession, InitiatorChanges, epoch_capacity, epoch_terms
from tests.matcher.epoch_helpers import (
    EPOCH_ID,
    Pair,
    delta,
    delta_sessions,
    full,
    initiator_matched,
    responder_matched,
)
from tests.matcher.psi_helpers import POOL, pair, pump, seeded

subsets = st.sets(st.integers(min_value=0, max_value=len(POOL) - 1), max_size=24)


def _elements(indexes: set[int]) -> set[bytes]:
    return {POOL[i] for i in indexes}


def _check(state: Pair) -> None:
    common = state.ours & state.theirs
    assert initiator_matched(state) == common
    assert responder_matched(state) == common


@given(subsets, subsets, st.lists(st.tuples(subsets, subsets), min_size=1, max_size=4), st.integers(0, 2**32))
@settings(max_examples=30, deadline=None)
def test_every_delta_leaves_both_sides_with_the_intersection_of_the_current_sets(
    ours: set[int], theirs: set[int], rounds: list[tuple[set[int], set[int]]], seed: int
) -> None:
    state = Pair(seed)
    initiator, responder = full(state, _elements(ours), _elements(theirs))
    _check(state)
    assert initiator.result is not None and initiator.result.intersection_size == len(ours & theirs)
    for next_ours, next_theirs in rounds:
        before = state.ours & state.theirs
        initiator, responder = delta(state, _elements(next_ours), _elements(next_theirs))
        _check(state)
        after = state.ours & state.theirs
        assert initiator.result is not None and responder.result is not None
        assert initiator.result.intersection_size == responder.result.intersection_size == len(after)
        for changes in (initiator.changes, responder.changes):
            assert changes is not None
            assert changes.matched_elements == after - before
            assert changes.unmatched_elements == before - after


def test_a_delta_sends_only_the_new_elements_and_fresh_canaries() -> None:
    state = Pair(3)
    full(state, POOL[:30], POOL[10:40])
    initiator, responder = delta_sessions(state, POOL[:30] + POOL[50:53], POOL[11:40] + POOL[52:55])
    transcript = pump(initiator, responder)
    sent = {
        direction: sum(len(m.data) // 32 for d, m in transcript if d == direction and isinstance(m, Elements))
        for direction in ("i->r", "r->i")
    }  # fmt: skip
    answers = sum(len(m.data) for d, m in transcript if isinstance(m, Tags)) // initiator.tag_length
    assert sent == {"i->r": 3, "r->i": 3 + CANARIES}
    assert answers == 3 + CANARIES
    opening = next(m for _, m in transcript if isinstance(m, Open))
    assert opening.delta and opening.epoch_id == EPOCH_ID and opening.set_size == 3 and opening.removed == ()
    result = next(m for _, m in transcript if isinstance(m, Result))
    # POOL[52] is new on both sides; POOL[10] left the responder's set, so the initiator's copy stopped matching.
    ib, changes = state.initiator_book, initiator.changes
    assert ib is not None and isinstance(changes, InitiatorChanges)
    positions = ib.positions | dict(changes.added)
    assert {positions[p] for p in result.positions} == {POOL[52]}
    assert {positions[p] for p in result.dropped} == {POOL[10]}
    assert result.intersection_size == len(set(POOL[11:30]) | {POOL[52]})


def test_a_withdrawal_is_named_by_its_position_and_ends_its_match() -> None:
    state = Pair(4)
    full(state, POOL[:10], POOL[:10])
    ib = state.initiator_book
    assert ib is not None
    withdrawn = ib.by_element[POOL[3]]
    initiator, responder = delta(state, POOL[:3] + POOL[4:10], POOL[:10])
    assert isinstance(initiator.changes, InitiatorChanges) and initiator.changes.removed == (withdrawn,)
    assert initiator.changes.unmatched_elements == {POOL[3]}
    assert responder.changes is not None and responder.changes.unmatched_elements == {POOL[3]}
    _check(state)


def test_the_scalars_stay_for_the_epoch_so_a_peer_links_an_element_across_its_sessions() -> None:
    # The stated cost of an epoch (docs/threat-model.md): an element withdrawn and added again arrives
    # blinded to the same value as in the epoch's full session; a fresh full session blinds it anew.
    state = Pair(5)
    full(state, POOL[:4], POOL[:4])
    first_seen = _received_by_initiator(state, *_full_transcript(state))
    delta(state, POOL[:4], POOL[:3])
    again = _received_by_initiator(state, *_delta_transcript(state, POOL[:4], POOL[:4]))
    rb = state.responder_book
    assert rb is not None
    linked = rb.key.blind([POOL[3]])[0]
    assert linked in again and linked in first_seen
    fresh = Pair(99)
    full(fresh, POOL[:4], POOL[:4])
    assert linked not in _received_by_initiator(fresh, *_full_transcript(fresh))


def _full_transcript(state: Pair) -> tuple[list[tuple[str, Message]], set[bytes]]:
    return state.transcripts[0]


def _delta_transcript(
    state: Pair, ours: list[bytes], theirs: list[bytes]
) -> tuple[list[tuple[str, Message]], set[bytes]]:
    delta(state, ours, theirs)
    return state.transcripts[-1]


def _received_by_initiator(state: Pair, transcript: list[tuple[str, Message]], canaries: set[bytes]) -> set[bytes]:
    data = b"".join(m.data for d, m in transcript if d == "r->i" and isinstance(m, Elements))
    return {data[i : i + 32] for i in range(0, len(data), 32)} - canaries


# -- a peer with one behaviour changed ------------------------------------------------------------------


def _opened(state: Pair, ours: list[bytes] = POOL[:20], theirs: list[bytes] = POOL[10:30]) -> Pair:
    full(state, ours, theirs)
    return state


def test_garbled_answers_in_a_delta_miss_the_fresh_canaries() -> None:
    state = _opened(Pair(6))
    initiator, responder = delta_sessions(state, POOL[:20] + POOL[40:45], POOL[10:30] + POOL[40:42])
    queue = initiator._queue_answers

    def garbled(tags: list[bytes]) -> None:
        queue([bytes(len(t)) for t in tags])

    initiator._queue_answers = garbled  # type: ignore[method-assign]
    with pytest.raises(PeerMisbehaved, match=f"missed {CANARIES} of our {CANARIES}"):
        pump(initiator, responder)
    assert responder.changes is None and initiator.result is None


def test_a_delta_answered_under_another_scalar_than_the_epochs_misses_every_canary() -> None:
    state = _opened(Pair(7))
    initiator, responder = delta_sessions(state, POOL[:21], POOL[10:31])
    start = initiator.start

    def start_then_switch() -> None:
        start()  # the Open names the epoch's key ...
        initiator._key = BlindingKey(b"\x07" * 32)  # ... the answers use another

    initiator.start = start_then_switch  # type: ignore[method-assign]
    with pytest.raises(PeerMisbehaved, match=f"missed {CANARIES} of our {CANARIES}"):
        pump(initiator, responder)


def test_a_delta_committing_to_another_key_is_refused() -> None:
    state = _opened(Pair(8))
    initiator, responder = delta_sessions(state, POOL[:21], POOL[10:30])
    initiator._key = BlindingKey(b"\x09" * 32)
    with pytest.raises(RemoteProtocolError, match="not the one it committed to for the epoch"):
        pump(initiator, responder)


def _open_message(state: Pair, **fields: object) -> tuple[EpochSession, Open]:
    initiator, responder = delta_sessions(state, POOL[:21], POOL[10:30])
    initiator.start()
    (message,) = initiator.outbox()
    assert isinstance(message, Open)
    values = {**message.__dict__, **fields}
    return responder, Open(**values)


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"removed": (3, 1)}, "strictly ascending"),
        ({"removed": (10_000,)}, "not live in the epoch"),
        ({"epoch_id": b"\xee" * 16}, "another epoch"),
        ({"set_size": 10_000}, "no room for the peer's new elements"),
        ({"epoch_round": 2}, "out of step"),
    ],
    ids=["unordered", "unknown-position", "other-epoch", "over-capacity", "round-out-of-step"],
)
def test_a_delta_open_outside_the_epoch_is_refused(fields: dict[str, object], match: str) -> None:
    state = _opened(Pair(9))
    assert state.responder_book is not None and state.responder_book.rounds == 1
    responder, message = _open_message(state, **fields)
    with pytest.raises((RemoteProtocolError, PolicyRefused), match=match):
        responder.receive(message)


def test_an_element_already_live_in_the_epoch_cannot_be_sent_again() -> None:
    # An initiator resending a live element would hold two positions for one key.
    state = _opened(Pair(10))
    initiator, responder = delta_sessions(state, POOL[:21], POOL[10:30])
    # The new element swapped for one the epoch already holds, as the initiator arranges what it sends.
    initiator._arrange = lambda items: [POOL[5]]  # type: ignore[method-assign]
    with pytest.raises(RemoteProtocolError, match="already holds in the epoch"):
        pump(initiator, responder)


def _tampered_result(state: Pair, tamper: object) -> EpochSession:
    initiator, responder = delta_sessions(state, POOL[:20] + POOL[40:42], POOL[10:30] + POOL[41:43])
    release = responder.release_result

    def tampered() -> None:
        assert responder._result_message is not None
        responder._result_message = tamper(responder._result_message)  # type: ignore[operator]
        release()

    responder.release_result = tampered  # type: ignore[method-assign]
    with pytest.raises(RemoteProtocolError, match="the peer's result"):
        pump(initiator, responder)
    return initiator


def _tampers(unmatched: int, matched: int) -> dict[str, object]:
    return {
        "count": lambda r: Result(r.intersection_size + 1, r.positions, r.dropped),
        "drops-an-unmatched-position": lambda r: Result(
            r.intersection_size - 1, r.positions, tuple(sorted((*r.dropped, unmatched)))
        ),
        "adds-a-matched-position": lambda r: Result(
            r.intersection_size + 1, tuple(sorted((*r.positions, matched))), r.dropped
        ),
        "unknown-position": lambda r: Result(r.intersection_size + 1, (*r.positions, 10_000), r.dropped),
    }


@pytest.mark.parametrize("name", list(_tampers(0, 0)))
def test_a_delta_result_that_does_not_add_up_is_refused(name: str) -> None:
    state = _opened(Pair(11))
    book = state.initiator_book
    assert book is not None
    unmatched = next(p for p, e in sorted(book.positions.items()) if e not in state.theirs)
    matched = next(p for p, e in sorted(book.positions.items()) if e in state.theirs)
    initiator = _tampered_result(state, _tampers(unmatched, matched)[name])
    assert initiator.state is State.ERROR and initiator.changes is None


def test_a_plain_responder_refuses_a_delta_and_one_that_keeps_no_epoch_runs_a_full_session() -> None:
    state = _opened(Pair(12))
    _, message = _open_message(state)
    plain = PsiSession(role=Role.RESPONDER, suite=DEFAULT_SUITE, elements=POOL[:5], random_bytes=seeded(1))
    with pytest.raises(PolicyRefused, match="needs an epoch this node keeps"):
        plain.receive(message)
    initiator = EpochSession(role=Role.INITIATOR, suite=DEFAULT_SUITE, elements=POOL[:8],
                             random_bytes=seeded(2), key=BlindingKey(b"\x05" * 32), epoch_id=EPOCH_ID)  # fmt: skip
    refusing = EpochSession(role=Role.RESPONDER, suite=DEFAULT_SUITE, elements=POOL[4:12],
                            random_bytes=seeded(3), key=BlindingKey(b"\x06" * 32), epoch_id=EPOCH_ID,
                            keep=False)  # fmt: skip
    pump(initiator, refusing)
    assert initiator.result is not None and initiator.result.intersection_size == 4
    assert not initiator.kept and initiator.changes is None and refusing.changes is None
    reference, _ = pair(POOL[:8], POOL[4:12], Mode.MUTUAL)
    reference.start()
    assert initiator.tag_length == 8  # the plain length, not the epoch's


def test_epoch_terms_leave_room_to_double_and_keep_false_matches_below_two_to_the_minus_forty() -> None:
    terms = epoch_terms(EPOCH_ID, 200_000, 200_000)
    assert (terms.initiator_capacity, terms.responder_capacity) == (400_000, 400_000)
    assert terms.tag_length == 10  # bits(400,000 x 400,256) = 38, + 40 = 78 bits: 10 bytes
    assert epoch_capacity(0) == epoch_capacity(1_000) == 2_000


def test_an_initiator_refuses_a_delta_past_the_epochs_capacity() -> None:
    state = _opened(Pair(13), POOL[:5], POOL[:5])
    book = state.initiator_book
    assert book is not None
    book.next_position = book.terms.initiator_capacity - 1
    with pytest.raises(LocalProtocolError, match="no room"):
        delta_sessions(state, POOL[:7], POOL[:5])


def test_after_an_epoch_roll_the_material_a_peer_kept_matches_nothing() -> None:
    # The same two sets in two epochs: every key matches in each, but what either side kept of the first
    # epoch (the responder's tags of the initiator's elements, the initiator's answers) meets nothing of the
    # second, and a delta of the old epoch cannot continue the new one.
    first = Pair(14)
    full(first, POOL[:30], POOL[:30])
    second = Pair(15)
    full(second, POOL[:30], POOL[:30], epoch_id=b"\x01" * 16)
    _check(first)
    _check(second)
    old, new = first.responder_book, second.responder_book
    assert old is not None and new is not None
    assert not set(old.by_tag) & set(new.by_tag)
    assert not set(old.by_answer) & set(new.by_answer)
    assert not set(old.by_answer) & set(new.by_tag)
    assert not {b[:8] for b in old.by_tag} & {b[:8] for b in new.by_tag}
    second.initiator_book = first.initiator_book
    initiator, responder = delta_sessions(second, POOL[:31], POOL[:30])
    with pytest.raises(RemoteProtocolError, match="another epoch"):
        pump(initiator, responder)
