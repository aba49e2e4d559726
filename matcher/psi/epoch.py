"""Key epochs and delta sessions: after one full session, each round costs what changed.

Within an epoch between an initiator and a responder both keep their scalar (a, b) and what the epoch's
full session left them:

* the initiator: its elements in the order it sent them (their *positions*), and which positions match;
* the responder: the initiator's public key A = a.G, the tag of ``b.a.H(x)`` of every live initiator
  position, and, for each of its own elements y, the initiator's answer ``tag(a.b.H(y))``.

A delta session then runs the exchange of :mod:`matcher.psi.session` over the changes only: the initiator
sends its new elements (under a, at positions after the last one) and the positions it withdraws; the
responder sends its new elements (under b) with fresh canaries, which the initiator answers under a and the
responder checks against the A it kept. The responder decides from its kept tags and the new ones, and its
Result lists the initiator positions that match now and did not before, and those that matched and no
longer do. Only mutual mode has epochs.

What it costs in privacy (docs/threat-model.md): inside an epoch a peer sees when an element of ours is
added or withdrawn and can link an element across the epoch's sessions, since it is blinded by the same
scalar; it still cannot test a guess without a session.

The kept material is reached through a *book* (:class:`InitiatorBook`, :class:`ResponderBook`): the node
keeps it in its store, the tests in memory (:class:`MemoryInitiatorBook`, :class:`MemoryResponderBook`).
A session never writes to its book; once it completed, :attr:`EpochSession.changes` says what to apply.

Tags keep one length for a whole epoch, chosen at the full session with room for each side to grow to twice
its size (at least :data:`EPOCH_FLOOR`): :func:`epoch_capacity` bounds how many initiator positions and
responder elements an epoch ever holds, and the tag length keeps a false match among all their comparisons
below 2^-40. A delta that would pass a capacity is refused; a fresh epoch starts with a full session.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from crypto import BlindingKey, Suite, tag_length_for
from matcher.psi.errors import EpochEnded, LocalProtocolError, PolicyRefused, RemoteProtocolError
from matcher.psi.messages import Accept, Mode, Open, Result
from matcher.psi.session import (
    CANARIES,
    DEFAULT_CHUNK,
    Blinder,
    Event,
    PsiResult,
    PsiSession,
    RandomBytes,
    Role,
    SessionCompleted,
    State,
    blind_in_process,
)

__all__ = [
    "EPOCH_FLOOR",
    "EPOCH_ID_LENGTH",
    "EpochSession",
    "EpochTerms",
    "InitiatorBook",
    "InitiatorChanges",
    "MemoryInitiatorBook",
    "MemoryResponderBook",
    "ResponderBook",
    "ResponderChanges",
    "epoch_capacity",
    "epoch_terms",
]

EPOCH_ID_LENGTH = 16
# Each side may grow to twice its size at the full session, and to at least twice this many elements.
EPOCH_FLOOR = 1_000


def epoch_capacity(size: int) -> int:
    """How many elements a side may hold over an epoch whose full session it entered with ``size``."""
    return 2 * max(size, EPOCH_FLOOR)


@dataclass(frozen=True)
class EpochTerms:
    """Fixed by the epoch's full session: its id, the tag length and each side's capacity."""

    epoch_id: bytes
    tag_length: int
    initiator_capacity: int
    responder_capacity: int


def epoch_terms(epoch_id: bytes, initiator_size: int, responder_size: int) -> EpochTerms:
    """The terms of an epoch whose full session announced these sizes (both sides compute them)."""
    initiator_capacity = epoch_capacity(initiator_size)
    responder_capacity = epoch_capacity(responder_size)
    length = tag_length_for(initiator_capacity, responder_capacity + CANARIES)
    return EpochTerms(epoch_id, length, initiator_capacity, responder_capacity)


class InitiatorBook(Protocol):
    """What an initiator kept of an epoch. Positions that were withdrawn are not live."""

    @property
    def terms(self) -> EpochTerms: ...
    @property
    def next_position(self) -> int: ...
    @property
    def matched_count(self) -> int: ...
    @property
    def rounds(self) -> int: ...
    def position_of(self, element: bytes) -> int | None: ...
    def positions_of(self, elements: Sequence[bytes]) -> dict[bytes, int]:
        """The live position of each of ``elements`` that has one (one lookup for many)."""
        ...

    def element_at(self, position: int) -> bytes | None: ...
    def is_matched(self, position: int) -> bool: ...


class ResponderBook(Protocol):
    """What a responder kept of an epoch: the initiator's live positions' tags and our answered elements."""

    @property
    def terms(self) -> EpochTerms: ...
    @property
    def peer_key(self) -> bytes: ...
    @property
    def next_position(self) -> int: ...
    @property
    def own_total(self) -> int: ...
    @property
    def matched_count(self) -> int: ...
    @property
    def rounds(self) -> int: ...
    def peer_tag(self, position: int) -> bytes | None: ...
    def peer_position(self, tag: bytes) -> int | None: ...
    def answer_of(self, element: bytes) -> bytes | None: ...
    def answered(self, answer: bytes) -> bytes | None: ...
    def peer_positions(self, tags: Sequence[bytes]) -> dict[bytes, int]:
        """:meth:`peer_position` of each of ``tags`` that has one (one lookup for many)."""
        ...

    def answers_of(self, elements: Sequence[bytes]) -> dict[bytes, bytes]:
        """:meth:`answer_of` of each of ``elements`` that has one."""
        ...

    def answered_all(self, answers: Sequence[bytes]) -> dict[bytes, bytes]:
        """:meth:`answered` of each of ``answers`` that has one."""
        ...


@dataclass(frozen=True)
class InitiatorChanges:
    """What a completed session changes in the initiator's book, and which of its elements now match or
    no longer do (a withdrawn element that matched counts as no longer matching)."""

    added: tuple[tuple[int, bytes], ...]
    removed: tuple[int, ...]
    now_matched: tuple[int, ...]
    no_longer_matched: tuple[int, ...]
    matched_elements: frozenset[bytes]
    unmatched_elements: frozenset[bytes]
    matched_count: int


@dataclass(frozen=True)
class ResponderChanges:
    """What a completed session changes in the responder's book, and which of its elements now match or
    no longer do."""

    peer_added: tuple[tuple[int, bytes], ...]
    peer_removed: tuple[int, ...]
    own_added: tuple[tuple[bytes, bytes], ...]
    own_removed: tuple[bytes, ...]
    matched_elements: frozenset[bytes]
    unmatched_elements: frozenset[bytes]
    matched_count: int


class EpochSession(PsiSession):
    """A session inside an epoch: its full session (``book`` None) or a delta (``book`` given).

    Initiator: ``elements`` are all its elements (full) or its new ones (delta); ``removed`` the elements a
    delta withdraws (live in the book). Responder: the same for its own side, and ``keep`` False answers an
    epoch's full session as a plain one (its policy keeps no epochs with the peer) and refuses a delta.
    ``key`` is the epoch's scalar: the book's for a delta, a fresh one for a full session.
    """

    def __init__(
        self,
        *,
        role: Role,
        suite: Suite,
        elements: Sequence[bytes],
        random_bytes: RandomBytes,
        key: BlindingKey,
        epoch_id: bytes,
        book: InitiatorBook | ResponderBook | None = None,
        removed: Sequence[bytes] = (),
        keep: bool = True,
        max_peer_set_size: int = 10_000_000,
        chunk_size: int = DEFAULT_CHUNK,
        blinder: Blinder = blind_in_process,
        canary_random: RandomBytes | None = None,
    ) -> None:
        super().__init__(
            role=role, suite=suite, elements=elements, random_bytes=random_bytes,
            mode=Mode.MUTUAL if role is Role.INITIATOR else None, allowed_modes=frozenset({Mode.MUTUAL}),
            max_peer_set_size=max_peer_set_size, chunk_size=chunk_size, blinder=blinder, key=key,
            canary_random=canary_random,
        )  # fmt: skip
        if len(epoch_id) != EPOCH_ID_LENGTH:
            raise LocalProtocolError(f"an epoch id is {EPOCH_ID_LENGTH} bytes")
        if book is not None and book.terms.epoch_id != epoch_id:
            raise LocalProtocolError("the book belongs to another epoch")
        if book is None and removed:
            raise LocalProtocolError("only a delta withdraws elements")
        self.epoch_id = epoch_id
        self.terms: EpochTerms | None = None if book is None else book.terms
        self.kept = keep
        self.changes: InitiatorChanges | ResponderChanges | None = None
        self._book = book
        self._removed_elements = tuple(dict.fromkeys(removed))
        self._removed_positions: tuple[int, ...] = ()
        if role is Role.INITIATOR and book is not None:
            self._removed_positions = self._initiator_withdrawals()
        if role is Role.RESPONDER and book is not None:
            responder_book = self._responder_book
            if responder_book.answers_of(self._real):
                raise LocalProtocolError("a new element is already answered in the epoch")
            if len(responder_book.answers_of(self._removed_elements)) != len(self._removed_elements):
                raise LocalProtocolError("a withdrawn element of ours is not in the epoch")

    @property
    def delta(self) -> bool:
        return self._book is not None

    # -- opening -------------------------------------------------------------------------------------

    def _initiator_withdrawals(self) -> tuple[int, ...]:
        book = self._initiator_book
        positions = []
        for element in self._removed_elements:
            position = book.position_of(element)
            if position is None:
                raise LocalProtocolError("a withdrawn element is not live in the epoch")
            positions.append(position)
        if book.positions_of(self._real):
            raise LocalProtocolError("a new element is already live in the epoch")
        if book.next_position + self.own_size > book.terms.initiator_capacity:
            raise LocalProtocolError("the epoch has no room for this many new elements; start a new one")
        return tuple(sorted(positions))

    def _open_message(self) -> Open:
        return Open(
            self.suite.name, Mode.MUTUAL, self.own_size, self._key.public_key(),
            epoch_id=self.epoch_id, delta=self.delta, removed=self._removed_positions,
            epoch_round=0 if self._book is None else self._initiator_book.rounds,
        )  # fmt: skip

    def _check_open_epoch(self, message: Open) -> None:
        if message.epoch_id != self.epoch_id:
            raise RemoteProtocolError("the peer named another epoch than the one this session continues")
        if not message.delta:
            if self.delta:
                raise LocalProtocolError("a full session opens an epoch; it has no book yet")
            return
        if not self.kept or not self.delta:
            raise EpochEnded("a delta session needs an epoch this node keeps with the peer")
        book = self._responder_book
        if message.epoch_round != book.rounds:
            raise EpochEnded("the peer's record of the epoch is out of step with ours; a full session starts anew")
        if message.public_key != book.peer_key:
            raise RemoteProtocolError("the peer's public key is not the one it committed to for the epoch")
        removed = message.removed
        if any(b <= a for a, b in itertools.pairwise(removed)):
            raise RemoteProtocolError("withdrawn positions must be strictly ascending")
        if any(book.peer_tag(position) is None for position in removed):
            raise RemoteProtocolError("the peer withdrew a position that is not live in the epoch")
        if book.next_position + message.set_size > book.terms.initiator_capacity:
            raise PolicyRefused("the epoch has no room for the peer's new elements; a full session starts anew")
        if book.own_total + self.own_size > book.terms.responder_capacity:
            raise PolicyRefused("the epoch has no room for our new elements; a full session starts anew")
        self._removed_positions = removed

    def _tag_length_for(self, message: Open) -> int:
        if self._book is not None:
            return self._book.terms.tag_length
        if not self.kept:
            return super()._tag_length_for(message)
        self.terms = epoch_terms(self.epoch_id, message.set_size, self.own_size)
        return self.terms.tag_length

    def _accept_message(self) -> Accept:
        return Accept(self.suite.name, Mode.MUTUAL, self.own_size, self.tag_length, epoch_kept=self.kept)

    def _check_accept_epoch(self, message: Accept) -> None:
        if self._book is not None:
            if not message.epoch_kept or message.tag_length != self._book.terms.tag_length:
                raise RemoteProtocolError("the peer answered a delta session outside the epoch's terms")
            return
        if not message.epoch_kept:
            self.kept = False
            super()._check_accept_epoch(message)
            return
        self.terms = epoch_terms(self.epoch_id, self.own_size, message.set_size)
        if message.tag_length != self.terms.tag_length:
            raise RemoteProtocolError("the peer chose a tag length that does not fit the epoch's sizes")

    # -- the books -----------------------------------------------------------------------------------

    @property
    def _initiator_book(self) -> InitiatorBook:
        assert self._book is not None and self.role is Role.INITIATOR
        return self._book  # type: ignore[return-value]

    @property
    def _responder_book(self) -> ResponderBook:
        assert self._book is not None and self.role is Role.RESPONDER
        return self._book  # type: ignore[return-value]

    # -- deciding (responder) ------------------------------------------------------------------------

    def _decide(self) -> PsiResult:
        if not self.delta:
            result = super()._decide()
            if self.kept:
                self.changes = self._full_responder_changes(result)
            return result
        return self._decide_delta()

    def _own_answers(self) -> dict[bytes, bytes]:
        return {e: a for e, a in zip(self._sending, self._answers, strict=True) if e not in self._canaries}

    def _full_responder_changes(self, result: PsiResult) -> ResponderChanges:
        answers = self._own_answers()
        peer = {tag: position for tag, position in self._peer_tags.items()}
        matched = frozenset(e for e, a in answers.items() if a in peer)
        return ResponderChanges(
            peer_added=tuple(sorted(((p, t) for t, p in peer.items()), key=lambda item: item[0])),
            peer_removed=(), own_added=tuple(answers.items()), own_removed=(),
            matched_elements=matched, unmatched_elements=frozenset(), matched_count=result.intersection_size,
        )  # fmt: skip

    def _decide_delta(self) -> PsiResult:
        book = self._responder_book
        base = book.next_position
        new_peer = {tag: base + offset for tag, offset in self._peer_tags.items()}
        if len(new_peer) != self.peer_size:
            raise RemoteProtocolError("the peer sent the same element twice")
        withdrawn = set(self._removed_positions)
        own_new = self._own_answers()
        own_gone = set(self._removed_elements)
        # The epoch's positions of the peer's new tags (there must be none live) and of our new answers.
        held = book.peer_positions([*new_peer, *(a for a in own_new.values() if a not in new_peer)])
        if any(held[tag] not in withdrawn for tag in new_peer if tag in held):
            raise RemoteProtocolError("the peer sent an element it already holds in the epoch")
        new_by_answer = {answer: element for element, answer in own_new.items()}
        gained: set[tuple[bytes, int]] = set()
        for element, answer in own_new.items():
            position = new_peer.get(answer)
            if position is None:
                position = held.get(answer)
                position = None if position is None or position in withdrawn else position
            if position is not None:
                gained.add((element, position))
        answered = book.answered_all([tag for tag in new_peer if tag not in new_by_answer])
        for tag, position in new_peer.items():
            own = new_by_answer.get(tag)
            if own is None:
                own = answered.get(tag)
                own = None if own is None or own in own_gone else own
            if own is not None:
                gained.add((own, position))
        lost = self._lost_matches(book, withdrawn)
        return self._delta_outcome(book, new_peer, own_new, gained, lost, withdrawn)

    def _lost_matches(self, book: ResponderBook, withdrawn: set[int]) -> set[tuple[bytes, int]]:
        """Matches of the epoch that a withdrawal on either side ends."""
        lost: set[tuple[bytes, int]] = set()
        for position in withdrawn:
            tag = book.peer_tag(position)
            own = None if tag is None else book.answered(tag)
            if own is not None:
                lost.add((own, position))
        for element in self._removed_elements:
            answer = book.answer_of(element)
            if answer is None:
                raise LocalProtocolError("a withdrawn element of ours is not in the epoch")
            peer = book.peer_position(answer)
            if peer is not None:
                lost.add((element, peer))
        return lost

    def _delta_outcome(
        self,
        book: ResponderBook,
        new_peer: dict[bytes, int],
        own_new: dict[bytes, bytes],
        gained: set[tuple[bytes, int]],
        lost: set[tuple[bytes, int]],
        withdrawn: set[int],
    ) -> PsiResult:
        gained, lost = gained - lost, lost - gained
        gained_elements = {e for e, _ in gained}
        lost_elements = {e for e, _ in lost}
        gained_positions = {p for _, p in gained}
        lost_positions = {p for _, p in lost}
        matched_count = book.matched_count + len(gained) - len(lost)
        self._result_message = Result(
            matched_count,
            tuple(sorted(gained_positions - lost_positions)),
            tuple(sorted(lost_positions - gained_positions - withdrawn)),
        )
        self.changes = ResponderChanges(
            peer_added=tuple(sorted(((p, t) for t, p in new_peer.items()), key=lambda item: item[0])),
            peer_removed=tuple(sorted(withdrawn)),
            own_added=tuple(own_new.items()),
            own_removed=self._removed_elements,
            matched_elements=frozenset(gained_elements - lost_elements),
            unmatched_elements=frozenset(lost_elements - gained_elements),
            matched_count=matched_count,
        )
        matched = frozenset(i for e in gained_elements for i in self._positions.get(e, ()))
        return PsiResult(Mode.MUTUAL, self.own_size, self.peer_size, matched_count, matched)

    # -- the result (initiator) ----------------------------------------------------------------------

    def _on_result(self, message: Result) -> list[Event]:
        if not self.delta:
            events = super()._on_result(message)
            if self.kept:
                self.changes = self._full_initiator_changes(message)
            return events
        if not self.awaiting_result:
            raise RemoteProtocolError("the peer sent its result before it had all our answers")
        self.changes = self._delta_initiator_changes(message)
        matched = frozenset(
            i for p in self.changes.now_matched if p >= self._initiator_book.next_position
            for i in self._positions[self._sending[p - self._initiator_book.next_position]]
        )  # fmt: skip
        self.result = PsiResult(Mode.MUTUAL, self.own_size, self.peer_size, message.intersection_size, matched)
        self.state = State.DONE
        return [SessionCompleted(self.result)]

    def _full_initiator_changes(self, message: Result) -> InitiatorChanges:
        positions = message.positions
        return InitiatorChanges(
            added=tuple(enumerate(self._sending)), removed=(), now_matched=positions, no_longer_matched=(),
            matched_elements=frozenset(self._sending[p] for p in positions), unmatched_elements=frozenset(),
            matched_count=len(positions),
        )  # fmt: skip

    def _delta_initiator_changes(self, message: Result) -> InitiatorChanges:
        book = self._initiator_book
        base = book.next_position
        withdrawn = set(self._removed_positions)
        gained, dropped = message.positions, message.dropped
        for positions in (gained, dropped):
            if any(b <= a for a, b in itertools.pairwise(positions)):
                raise RemoteProtocolError("the peer's result does not list distinct ascending positions")
        if set(gained) & set(dropped):
            raise RemoteProtocolError("the peer's result both adds and drops a position")

        def element(position: int) -> bytes | None:
            if base <= position < base + len(self._sending):
                return self._sending[position - base]
            return None if position in withdrawn else book.element_at(position)

        gained_elements = [element(p) for p in gained]
        if any(e is None for e in gained_elements) or any(p < base and book.is_matched(p) for p in gained):
            raise RemoteProtocolError("the peer's result adds a position that is not ours or already matched")
        dropped_elements = [element(p) for p in dropped]
        if any(
            p >= base or e is None or not book.is_matched(p) for p, e in zip(dropped, dropped_elements, strict=True)
        ):
            raise RemoteProtocolError("the peer's result drops a position that did not match")
        withdrawn_matched = [p for p in self._removed_positions if book.is_matched(p)]
        expected = book.matched_count - len(withdrawn_matched) - len(dropped) + len(gained)
        if message.intersection_size != expected:
            raise RemoteProtocolError("the peer's result counts a different number of matches than it lists")
        unmatched = {e for e in dropped_elements if e is not None}
        unmatched.update(e for p in withdrawn_matched if (e := book.element_at(p)) is not None)
        return InitiatorChanges(
            added=tuple((base + i, e) for i, e in enumerate(self._sending)),
            removed=self._removed_positions,
            now_matched=gained,
            no_longer_matched=dropped,
            matched_elements=frozenset(e for e in gained_elements if e is not None),
            unmatched_elements=frozenset(unmatched),
            matched_count=expected,
        )


# -- books kept in memory (tests, benchmarks of the core) -----------------------------------------------


@dataclass
class MemoryInitiatorBook:
    terms: EpochTerms
    key: BlindingKey
    positions: dict[int, bytes] = field(default_factory=dict)
    by_element: dict[bytes, int] = field(default_factory=dict)
    matched: set[int] = field(default_factory=set)
    next_position: int = 0
    rounds: int = 0

    @property
    def matched_count(self) -> int:
        return len(self.matched)

    def position_of(self, element: bytes) -> int | None:
        return self.by_element.get(element)

    def positions_of(self, elements: Sequence[bytes]) -> dict[bytes, int]:
        return {e: self.by_element[e] for e in elements if e in self.by_element}

    def element_at(self, position: int) -> bytes | None:
        return self.positions.get(position)

    def is_matched(self, position: int) -> bool:
        return position in self.matched

    def apply(self, changes: InitiatorChanges) -> None:
        for position in changes.removed:
            self.by_element.pop(self.positions.pop(position), None)
            self.matched.discard(position)
        for position, element in changes.added:
            self.positions[position] = element
            self.by_element[element] = position
            self.next_position = max(self.next_position, position + 1)
        self.matched.difference_update(changes.no_longer_matched)
        self.matched.update(changes.now_matched)
        self.rounds += 1
        assert len(self.matched) == changes.matched_count


@dataclass
class MemoryResponderBook:
    terms: EpochTerms
    key: BlindingKey
    peer_key: bytes
    tags: dict[int, bytes] = field(default_factory=dict)
    by_tag: dict[bytes, int] = field(default_factory=dict)
    answers: dict[bytes, bytes] = field(default_factory=dict)
    by_answer: dict[bytes, bytes] = field(default_factory=dict)
    next_position: int = 0
    own_total: int = 0
    matched_count: int = 0
    rounds: int = 0

    def peer_tag(self, position: int) -> bytes | None:
        return self.tags.get(position)

    def peer_position(self, tag: bytes) -> int | None:
        return self.by_tag.get(tag)

    def answer_of(self, element: bytes) -> bytes | None:
        return self.answers.get(element)

    def answered(self, answer: bytes) -> bytes | None:
        return self.by_answer.get(answer)

    def peer_positions(self, tags: Sequence[bytes]) -> dict[bytes, int]:
        return {t: self.by_tag[t] for t in tags if t in self.by_tag}

    def answers_of(self, elements: Sequence[bytes]) -> dict[bytes, bytes]:
        return {e: self.answers[e] for e in elements if e in self.answers}

    def answered_all(self, answers: Sequence[bytes]) -> dict[bytes, bytes]:
        return {a: self.by_answer[a] for a in answers if a in self.by_answer}

    def apply(self, changes: ResponderChanges, announced: int) -> None:
        """``announced``: how many new elements the initiator sent (its positions advance by that many)."""
        for position in changes.peer_removed:
            self.by_tag.pop(self.tags.pop(position), None)
        for position, tag in changes.peer_added:
            self.tags[position] = tag
            self.by_tag[tag] = position
        self.next_position += announced
        for element in changes.own_removed:
            self.by_answer.pop(self.answers.pop(element), None)
        for element, answer in changes.own_added:
            self.answers[element] = answer
            self.by_answer[answer] = element
        self.own_total += len(changes.own_added)
        self.matched_count = changes.matched_count
        self.rounds += 1
