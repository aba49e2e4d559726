"""Two sides of an epoch in memory: a full session, then delta sessions over what changed."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from crypto import DEFAULT_SUITE, BlindingKey
from matcher.psi import Message, Role
from matcher.psi.epoch import (
    EpochSession,
    InitiatorChanges,
    MemoryInitiatorBook,
    MemoryResponderBook,
    ResponderChanges,
)
from tests.matcher.psi_helpers import pump, seeded

EPOCH_ID = bytes(range(16))


@dataclass
class Pair:
    """The two books of one epoch and each side's current set; ``rounds`` counts sessions run."""

    seed: int
    ours: set[bytes] = field(default_factory=set)
    theirs: set[bytes] = field(default_factory=set)
    initiator_book: MemoryInitiatorBook | None = None
    responder_book: MemoryResponderBook | None = None
    rounds: int = 0
    # Each session's transcript and the responder's canaries, in the order they ran.
    transcripts: list[tuple[list[tuple[str, Message]], set[bytes]]] = field(default_factory=list)

    def random(self, side: str) -> Callable[[int], bytes]:
        self.rounds += 1
        return seeded(self.seed * 1000 + self.rounds * 2 + (side == "r"))


def full(
    pair: Pair, ours: Iterable[bytes], theirs: Iterable[bytes], epoch_id: bytes = EPOCH_ID
) -> tuple[EpochSession, EpochSession]:
    """Open the epoch with a full session; the books are filled from its changes."""
    pair.ours, pair.theirs = set(ours), set(theirs)
    a = BlindingKey.generate(pair.random("i"))
    b = BlindingKey.generate(pair.random("r"))
    initiator = EpochSession(role=Role.INITIATOR, suite=DEFAULT_SUITE, elements=sorted(pair.ours),
                             random_bytes=pair.random("i"), key=a, epoch_id=epoch_id, chunk_size=5)  # fmt: skip
    responder = EpochSession(role=Role.RESPONDER, suite=DEFAULT_SUITE, elements=sorted(pair.theirs),
                             random_bytes=pair.random("r"), key=b, epoch_id=epoch_id, chunk_size=5)  # fmt: skip
    pair.transcripts.append((pump(initiator, responder), set(responder._canaries)))
    assert initiator.terms is not None and responder.terms is not None
    pair.initiator_book = MemoryInitiatorBook(initiator.terms, a)
    pair.responder_book = MemoryResponderBook(responder.terms, b, a.public_key())
    apply(pair, initiator, responder)
    return initiator, responder


def delta_sessions(pair: Pair, ours: Iterable[bytes], theirs: Iterable[bytes]) -> tuple[EpochSession, EpochSession]:
    """The two sessions of the delta from the books' sets to ``ours`` / ``theirs`` (not yet run)."""
    ours, theirs = set(ours), set(theirs)
    ib, rb = pair.initiator_book, pair.responder_book
    assert ib is not None and rb is not None
    initiator = EpochSession(
        role=Role.INITIATOR, suite=DEFAULT_SUITE, elements=sorted(ours - pair.ours), removed=sorted(pair.ours - ours),
        random_bytes=pair.random("i"), key=ib.key, epoch_id=ib.terms.epoch_id, book=ib, chunk_size=5,
    )  # fmt: skip
    responder = EpochSession(
        role=Role.RESPONDER, suite=DEFAULT_SUITE, elements=sorted(theirs - pair.theirs),
        removed=sorted(pair.theirs - theirs), random_bytes=pair.random("r"), key=rb.key,
        epoch_id=rb.terms.epoch_id, book=rb, chunk_size=5,
    )  # fmt: skip
    pair.ours, pair.theirs = ours, theirs
    return initiator, responder


def delta(pair: Pair, ours: Iterable[bytes], theirs: Iterable[bytes]) -> tuple[EpochSession, EpochSession]:
    initiator, responder = delta_sessions(pair, ours, theirs)
    pair.transcripts.append((pump(initiator, responder), set(responder._canaries)))
    apply(pair, initiator, responder)
    return initiator, responder


def apply(pair: Pair, initiator: EpochSession, responder: EpochSession) -> None:
    assert isinstance(initiator.changes, InitiatorChanges) and isinstance(responder.changes, ResponderChanges)
    assert pair.initiator_book is not None and pair.responder_book is not None
    pair.initiator_book.apply(initiator.changes)
    pair.responder_book.apply(responder.changes, initiator.own_size)


def initiator_matched(pair: Pair) -> set[bytes]:
    book = pair.initiator_book
    assert book is not None
    return {book.positions[p] for p in book.matched}


def responder_matched(pair: Pair) -> set[bytes]:
    book = pair.responder_book
    assert book is not None
    return {e for e, answer in book.answers.items() if answer in book.by_tag}
