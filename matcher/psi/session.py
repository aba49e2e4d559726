"""The PSI session state machine: no I/O, no clock; randomness and the blinding backend are passed in.

Diffie-Hellman PSI over the suite's prime-order group, protocol version 2 (docs/protocol.md). With a the
initiator's and b the responder's secret scalar, G the group's base point and H the suite's hash-to-group
(computed before the session and stored):

    initiator                                   responder
    Open(v2, suite, mode, |X|, A = a.G)   ->
                                          <-    Accept(v2, suite, mode, |Y|, tag length)
                                          <-    Elements: b.H(y) for y in Y, and K canaries r.G  (chunks)
    Elements: a.H(x) for x in X           ->    (chunks)
    Tags: tag(a.e) for each element e the responder sent, in its order, or shuffled  ->
                                                checks every canary's answer against tag(r.A); decides;
                                                records the session; only then:
                                          <-    Result(intersection size, matched positions of X)

The responder blinds the initiator's elements itself (b.a.H(x)) and compares them with the initiator's
answers (a.b.H(y)); the initiator never sees a doubly blinded value. So the initiator learns only the Result,
which is what the responder recorded: it cannot learn a hit the responder does not see. Canaries are
indistinguishable from real elements (DDH), so an initiator that answers with another scalar than the one it
committed to, or garbles a share of its answers, misses canaries and the session ends as ``peer-misbehaved``
without a Result. The responder learns first and could lie in its Result or withhold it; a withheld Result is
detected by the initiator (:meth:`PsiSession.ended_early`). docs/threat-model.md states what remains.

Each side sends its elements in a fresh uniformly random order every session (:func:`permuted`), so a
position says nothing about import order, case or an earlier session. In mutual mode the initiator's tags
answer the responder's elements in the order they came; in count-only mode they go back shuffled and the
Result carries only the count.

All legal transitions are in ``_TRANSITIONS``. Anything else is a protocol error that leaves the session in
a sticky ERROR state; the error's family says whose fault it was (:class:`LocalProtocolError` for our
caller, :class:`RemoteProtocolError` / :class:`PolicyRefused` for the peer).
"""

from __future__ import annotations

import enum
import hashlib
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from crypto import BlindingKey, InvalidElement, Suite, tag_length_for, tags_of
from crypto.errors import CryptoError
from matcher.errors import MatcherError
from matcher.psi.errors import (
    EpochEnded,
    LocalProtocolError,
    PeerMisbehaved,
    PolicyRefused,
    RemoteProtocolError,
    VersionMismatch,
)
from matcher.psi.messages import PROTOCOL_VERSION, Accept, Elements, Message, Mode, Open, Result, Tags

__all__ = [
    "CANARIES",
    "DEFAULT_CHUNK",
    "Blinder",
    "Event",
    "PeerAnnounced",
    "PsiResult",
    "PsiSession",
    "Role",
    "SessionCompleted",
    "State",
    "blind_in_process",
    "check_open",
    "permuted",
]

PERMUTATION_KEY_LENGTH = 32
# 4096 elements of 32 bytes: 128 KiB per message, far below gRPC's 4 MB default limit.
DEFAULT_CHUNK = 4096
# Canaries the responder hides among its elements. An initiator that garbles a fraction f of its answers
# misses none of them with probability (1 - f)^K: 2e-6 for f = 5 %, 0.08 for f = 1 % (docs/protocol.md).
CANARIES = 256
# How many chunks an initiator blinds ahead while it waits for the Accept (bounds the memory they hold).
MAX_AHEAD_CHUNKS = 64

Blinder = Callable[[BlindingKey, Sequence[bytes]], list[bytes]]
RandomBytes = Callable[[int], bytes]


def blind_in_process(key: BlindingKey, elements: Sequence[bytes]) -> list[bytes]:
    """The default blinder: this process, this thread."""
    return key.blind(elements)


class Role(enum.Enum):
    INITIATOR = "initiator"
    RESPONDER = "responder"


class State(enum.Enum):
    IDLE = "idle"
    AWAIT_OPEN = "await-open"
    AWAIT_ACCEPT = "await-accept"
    EXCHANGE = "exchange"
    DONE = "done"
    ERROR = "error"


@dataclass(frozen=True)
class PsiResult:
    """What this side learned. ``matched`` indexes the caller's element list (None in count-only mode)."""

    mode: Mode
    own_size: int
    peer_size: int
    intersection_size: int
    matched: frozenset[int] | None


@dataclass(frozen=True)
class PeerAnnounced:
    mode: Mode
    set_size: int


@dataclass(frozen=True)
class SessionCompleted:
    result: PsiResult


Event = PeerAnnounced | SessionCompleted

_TRANSITIONS: dict[tuple[Role, State, type], str] = {
    (Role.RESPONDER, State.AWAIT_OPEN, Open): "_on_open",
    (Role.INITIATOR, State.AWAIT_ACCEPT, Accept): "_on_accept",
    (Role.INITIATOR, State.EXCHANGE, Elements): "_on_elements",
    (Role.RESPONDER, State.EXCHANGE, Elements): "_on_elements",
    (Role.RESPONDER, State.EXCHANGE, Tags): "_on_tags",
    (Role.INITIATOR, State.EXCHANGE, Result): "_on_result",
}


class PsiSession:
    """One side of one PSI session.

    Drive it with :meth:`start` (initiator only), :meth:`receive` for each peer message, and :meth:`outbox`
    to collect the messages to send. ``elements`` are the suite's stored hash-to-group values; duplicates
    are sent once and every duplicate index is reported when matched.

    The responder's session completes (:class:`SessionCompleted`) once it has decided; its caller records
    the result, then calls :meth:`release_result` to queue the initiator's Result.
    """

    def __init__(
        self,
        *,
        role: Role,
        suite: Suite,
        elements: Sequence[bytes],
        random_bytes: RandomBytes,
        mode: Mode | None = None,
        allowed_modes: frozenset[Mode] = frozenset(Mode),
        max_peer_set_size: int = 10_000_000,
        chunk_size: int = DEFAULT_CHUNK,
        blinder: Blinder = blind_in_process,
        key: BlindingKey | None = None,
        canary_random: RandomBytes | None = None,
    ) -> None:
        if role is Role.INITIATOR and mode is None:
            raise LocalProtocolError("the initiator must choose a mode")
        if chunk_size < 1:
            raise LocalProtocolError("chunk size must be positive")
        self.role = role
        self.suite = suite
        self.mode = mode
        self._allowed_modes = allowed_modes
        self._max_peer = max_peer_set_size
        self._chunk = chunk_size
        self._blinder = blinder
        self._random = random_bytes
        # What the responder's canary scalars are drawn from: fresh randomness, unless the retry of an
        # interrupted session must send the same canaries as before (see _arrange_with_canaries).
        self._canary_random = random_bytes if canary_random is None else canary_random
        # A fresh scalar per session, unless an epoch supplies the one it keeps (matcher/psi/epoch.py).
        self._key = BlindingKey.generate(random_bytes) if key is None else key
        self._positions: dict[bytes, list[int]] = {}
        for index, element in enumerate(elements):
            if len(element) != suite.element_length:
                raise LocalProtocolError(f"element {index} has the wrong length for {suite.name}")
            self._positions.setdefault(element, []).append(index)
        self._real = list(self._positions)
        # What we send, in sending order: our real elements (blinded when sent) and, as the responder, the
        # canaries (sent as they are). Fixed when the initiator opens and when the responder has the Open;
        # see _arrange().
        self._sending: list[bytes] = []
        self._canaries: dict[bytes, int] = {}  # canary element -> its number
        self._canary_tags: list[bytes] = []  # the tag each canary's honest answer has
        self.state = State.IDLE if role is Role.INITIATOR else State.AWAIT_OPEN
        self.error: CryptoError | MatcherError | None = None
        self.result: PsiResult | None = None
        self.peer_size = -1
        self.tag_length = 0
        self._peer_key = b""
        self._outbox: list[Message] = []
        self._peer_received = 0
        self._peer_tags: dict[bytes, int] = {}  # responder: tag of b.a.H(x) -> the initiator's position
        self._pending_answers: list[bytes] = []  # initiator, count-only: held back until they can be shuffled
        self._answers: list[bytes] = []  # responder: the initiator's tags for what we sent
        self._answers_sent = 0  # initiator: tags queued so far
        self._own_cursor = 0
        self._ahead: list[bytes] = []  # initiator: chunks blinded before the Accept came, in sending order
        self._result_message: Result | None = None

    @property
    def own_size(self) -> int:
        """The announced size: distinct elements."""
        return len(self._real)

    @property
    def _peer_elements(self) -> int:
        """How many elements the peer sends: its set, plus the canaries when it is the responder."""
        return self.peer_size + (CANARIES if self.role is Role.INITIATOR else 0)

    # -- driving ------------------------------------------------------------------------------------

    def start(self) -> None:
        """Initiator: queue the Open message, which commits to our public key."""
        self._check_usable()
        if self.role is not Role.INITIATOR or self.state is not State.IDLE:
            self._fail(LocalProtocolError(f"start() is not allowed for a {self.role.value} in {self.state.value}"))
        assert self.mode is not None
        self._outbox.append(self._open_message())
        self._sending = self._arrange(list(self._real))
        self.state = State.AWAIT_ACCEPT

    def receive(self, message: Message) -> list[Event]:
        """Process one peer message; returns what happened. Errors are sticky."""
        self._check_usable()
        handler = _TRANSITIONS.get((self.role, self.state, type(message)))
        if handler is None:
            raise self._fail(
                RemoteProtocolError(
                    f"unexpected {type(message).__name__} message while {self.state.value} "
                    f"(we are the {self.role.value})"
                )
            )
        try:
            events: list[Event] = getattr(self, handler)(message)
        except InvalidElement:
            self._fail(RemoteProtocolError("the peer sent an invalid group element"))
        except (CryptoError, MatcherError) as exc:
            self._fail(exc)
        return events + self._maybe_decide()

    def outbox(self, max_chunks: int | None = None) -> list[Message]:
        """Messages to send, in order; drains the queue.

        Our own blinded elements are computed here, lazily, at most ``max_chunks`` chunks per call (all when
        None). A node calls it with a small budget so that its Accept and its first chunks leave at once
        and both sides blind in parallel instead of one waiting for the other's whole set.
        """
        out, self._outbox = self._outbox, []
        if self.state is not State.EXCHANGE:
            return out  # our elements leave only once the session runs: not before the Accept, not after a failure
        total = len(self._sending)
        width = self.suite.element_length
        for data in self._ahead:  # blinded while we waited for the Accept: free to send now
            out.append(Elements(data))
            self._own_cursor += len(data) // width
        self._ahead.clear()
        budget = total if max_chunks is None else max_chunks
        while self._own_cursor < total and budget > 0:
            end = min(total, self._own_cursor + self._chunk)
            out.append(Elements(self._blinded(self._sending[self._own_cursor : end])))
            self._own_cursor = end
            budget -= 1
        return out

    @property
    def can_blind_ahead(self) -> bool:
        """Initiator, waiting for the Accept: whether :meth:`blind_ahead` has a chunk left to blind."""
        return (
            self.state is State.AWAIT_ACCEPT
            and len(self._ahead) < MAX_AHEAD_CHUNKS
            and self._ahead_end < len(self._sending)
        )

    @property
    def _ahead_end(self) -> int:
        """Where the chunks blinded ahead end in the sending order."""
        return self._own_cursor + sum(len(data) for data in self._ahead) // self.suite.element_length

    def blind_ahead(self) -> None:
        """Initiator, waiting for the Accept: blind our next chunk now, to leave once the responder accepts.

        The responder loads its set and checks its policy before it accepts; a node calls this meanwhile so
        that the time is not lost. Nothing is sent early, and a refused session only wasted the work.
        """
        if not self.can_blind_ahead:
            return
        start = self._ahead_end
        end = min(len(self._sending), start + self._chunk)
        self._ahead.append(self._blinded(self._sending[start:end]))

    def release_result(self) -> None:
        """Responder: queue the Result, once the caller has recorded what this session decided."""
        self._check_error()
        if self.role is not Role.RESPONDER or self._result_message is None:
            raise LocalProtocolError("only a responder that has decided releases a result")
        self._outbox.append(self._result_message)
        self._result_message = None

    def ended_early(self) -> PeerMisbehaved | None:
        """Initiator: why the session ending now, without a Result, is misbehaviour -- or None.

        Once our last answer is queued the responder holds all it needs to learn the result; an ending
        without a Result after that may be a responder that learned and withheld ours.
        """
        if self.role is not Role.INITIATOR or self.state is not State.EXCHANGE or not self.awaiting_result:
            return None
        return PeerMisbehaved("peer-misbehaved: the responder withheld the result after receiving all our answers")

    @property
    def awaiting_result(self) -> bool:
        """Initiator: everything of ours is out (elements and answers); only the Result is missing."""
        return (
            self.role is Role.INITIATOR
            and self.state is State.EXCHANGE
            and self._own_cursor == len(self._sending)
            and self._peer_received == self._peer_elements
            and self._answers_sent == self._peer_elements
        )

    @property
    def elements_sent(self) -> int:
        """Own elements blinded and handed out by :meth:`outbox` so far (for progress displays)."""
        return self._own_cursor

    @property
    def elements_received(self) -> int:
        """Peer elements received and processed so far (for progress displays)."""
        return self._peer_received

    @property
    def pending_output(self) -> bool:
        """Whether :meth:`outbox` has something to give now."""
        if self.state is State.AWAIT_ACCEPT:
            return bool(self._outbox)
        return bool(self._outbox) or self._own_cursor < len(self._sending)

    # -- handlers ------------------------------------------------------------------------------------

    def _on_open(self, message: Open) -> list[Event]:
        check_open(message, self.suite)
        if message.mode not in self._allowed_modes:
            raise PolicyRefused(f"mode {message.mode.value} is not allowed")
        self._check_open_epoch(message)
        self._check_peer_size(message.set_size)
        self.mode = message.mode
        self._peer_key = message.public_key
        self.tag_length = self._tag_length_for(message)
        self._arrange_with_canaries()
        self._outbox.append(self._accept_message())
        self.state = State.EXCHANGE
        return [PeerAnnounced(self.mode, self.peer_size)]

    def _on_accept(self, message: Accept) -> list[Event]:
        if message.protocol_version != PROTOCOL_VERSION:
            raise VersionMismatch(
                f"the peer answered with protocol version {_version_text(message.protocol_version)}; "
                f"this node speaks version {PROTOCOL_VERSION} only"
            )
        if message.suite != self.suite.name or message.mode is not self.mode:
            raise RemoteProtocolError("the peer accepted a different suite or mode than we opened")
        self._check_peer_size(message.set_size)
        self._check_accept_epoch(message)
        self.tag_length = message.tag_length
        self.state = State.EXCHANGE
        assert self.mode is not None
        return [PeerAnnounced(self.mode, self.peer_size)]

    def _on_elements(self, message: Elements) -> list[Event]:
        width = self.suite.element_length
        count, rest = divmod(len(message.data), width)
        if rest or count == 0:
            raise RemoteProtocolError("an elements chunk must hold a positive whole number of elements")
        if self._peer_received + count > self._peer_elements:
            raise RemoteProtocolError("the peer sent more elements than it announced")
        received = [message.data[i : i + width] for i in range(0, len(message.data), width)]
        tags = tags_of(self._blinder(self._key, received), self.tag_length)
        first = self._peer_received
        self._peer_received += count
        if self.role is Role.RESPONDER:
            # The initiator's elements, doubly blinded: compared with its answers once they are all in.
            self._peer_tags.update(zip(tags, range(first, first + count), strict=True))
        elif self.mode is Mode.MUTUAL:
            self._queue_answers(tags)
        else:
            self._pending_answers.extend(tags)
            if self._peer_received == self._peer_elements:
                answers, self._pending_answers = self._pending_answers, []
                _shuffle(answers, self._random)
                self._queue_answers(answers)
        return []

    def _on_tags(self, message: Tags) -> list[Event]:
        count, rest = divmod(len(message.data), self.tag_length)
        if rest or count == 0:
            raise RemoteProtocolError("a tags chunk must hold a positive whole number of tags")
        # A tag answers an element we sent; more tags than elements sent so far is out of order or oversized.
        if len(self._answers) + count > self._own_cursor:
            raise RemoteProtocolError("the peer sent more tags than we have sent elements")
        t = self.tag_length
        self._answers.extend(message.data[i : i + t] for i in range(0, len(message.data), t))
        return []

    def _on_result(self, message: Result) -> list[Event]:
        if not self.awaiting_result:
            raise RemoteProtocolError("the peer sent its result before it had all our answers")
        if message.dropped:
            raise RemoteProtocolError("only a delta session's result drops positions")
        assert self.mode is not None
        size = message.intersection_size
        limit = min(self.own_size, self.peer_size)
        matched: frozenset[int] | None = None
        if self.mode is Mode.MUTUAL:
            positions = message.positions
            if size != len(positions) or any(b <= a for a, b in itertools.pairwise(positions)):
                raise RemoteProtocolError("the peer's result does not list distinct ascending positions")
            if positions and (positions[0] < 0 or positions[-1] >= self.own_size):
                raise RemoteProtocolError("the peer's result names a position we did not send")
            matched = frozenset(i for p in positions for i in self._positions[self._sending[p]])
        elif message.positions:
            raise RemoteProtocolError("a count-only result carries no positions")
        if size > limit:
            raise RemoteProtocolError("the peer's result counts more matches than the smaller set holds")
        self.result = PsiResult(self.mode, self.own_size, self.peer_size, size, matched)
        self.state = State.DONE
        return [SessionCompleted(self.result)]

    # -- what an epoch changes (matcher/psi/epoch.py overrides these) ---------------------------------

    def _open_message(self) -> Open:
        assert self.mode is not None
        return Open(self.suite.name, self.mode, self.own_size, self._key.public_key())

    def _check_open_epoch(self, message: Open) -> None:
        """A plain responder runs an epoch's full session as any full session (keeping nothing) and
        cannot continue an epoch it never kept."""
        if message.delta:
            raise EpochEnded("a delta session needs an epoch this node keeps with the peer")

    def _tag_length_for(self, message: Open) -> int:
        return tag_length_for(message.set_size, self.own_size + CANARIES)

    def _accept_message(self) -> Accept:
        assert self.mode is not None
        return Accept(self.suite.name, self.mode, self.own_size, self.tag_length)

    def _check_accept_epoch(self, message: Accept) -> None:
        if message.epoch_kept:
            raise RemoteProtocolError("the peer kept an epoch we did not ask for")
        if message.tag_length != tag_length_for(self.own_size, message.set_size + CANARIES):
            raise RemoteProtocolError("the peer chose a tag length that does not fit the announced sizes")

    # -- helpers -------------------------------------------------------------------------------------

    def _check_peer_size(self, size: int) -> None:
        if size < 0:
            raise RemoteProtocolError("the peer announced a negative set size")
        if size > self._max_peer:
            raise PolicyRefused(f"the peer announced {size} elements; the limit is {self._max_peer}")
        self.peer_size = size

    def _arrange_with_canaries(self) -> None:
        """Responder: our elements and the canaries in one fresh random order.

        A canary is ``r.G`` for a fresh scalar r; the initiator's honest answer is ``a.r.G = r.A``, which we
        compute from its committed public key A (validated as any element is).
        """
        try:
            BlindingKey.generate(self._random).blind([self._peer_key])
        except InvalidElement:
            raise RemoteProtocolError("the peer's public key is not a valid group element") from None
        canaries: list[bytes] = []
        for number in range(CANARIES):
            scalar = BlindingKey.generate(self._canary_random)
            element = scalar.public_key()
            if element in self._positions or element in self._canaries:
                raise LocalProtocolError("a canary collided with an element")  # probability ~2^-240
            self._canaries[element] = number
            canaries.append(element)
            self._canary_tags.append(tags_of(scalar.blind([self._peer_key]), self.tag_length)[0])
        self._sending = self._arrange(self._real + canaries)

    def _arrange(self, items: list[bytes]) -> list[bytes]:
        """The order we send ``items`` in: fresh and uniformly random each session."""
        return permuted(items, self._random(PERMUTATION_KEY_LENGTH))

    def _blinded(self, batch: Sequence[bytes]) -> bytes:
        """The chunk ``batch`` as it leaves: real elements blinded by our scalar, canaries as they are."""
        if not self._canaries:
            return b"".join(self._blinder(self._key, batch))
        real = iter(self._blinder(self._key, [e for e in batch if e not in self._canaries]))
        return b"".join(e if e in self._canaries else next(real) for e in batch)

    def _queue_answers(self, tags: list[bytes]) -> None:
        for start in range(0, len(tags), self._chunk):
            self._outbox.append(Tags(b"".join(tags[start : start + self._chunk])))
        self._answers_sent += len(tags)

    def _maybe_decide(self) -> list[Event]:
        """Responder: once the initiator's elements and all its answers are in, check the canaries and
        decide. A missed canary ends the session as misbehaved, and nothing more is sent."""
        if self.role is not Role.RESPONDER or self.state is not State.EXCHANGE:
            return []
        if self._peer_received != self.peer_size or len(self._answers) != len(self._sending):
            return []
        assert self.mode is not None
        expected = self._canary_tags
        if self.mode is Mode.MUTUAL:
            missed = sum(
                1 for element, answer in zip(self._sending, self._answers, strict=True)
                if element in self._canaries and answer != expected[self._canaries[element]]
            )  # fmt: skip
        else:
            present = set(self._answers)
            missed = sum(1 for tag in expected if tag not in present)
        if missed:
            self._fail(PeerMisbehaved(f"peer-misbehaved: its answers missed {missed} of our {CANARIES} canaries"))
        self.result = self._decide()
        self.state = State.DONE
        return [SessionCompleted(self.result)]

    def _decide(self) -> PsiResult:
        """Responder, canaries checked: what matched; queues (but does not release) the Result."""
        assert self.mode is not None
        matched: frozenset[int] | None = None
        if self.mode is Mode.MUTUAL:
            own_hits: list[int] = []
            peer_hits: set[int] = set()
            for slot, (element, answer) in enumerate(zip(self._sending, self._answers, strict=True)):
                position = self._peer_tags.get(answer)
                if position is not None and element not in self._canaries:
                    own_hits.append(slot)
                    peer_hits.add(position)
            matched = frozenset(i for slot in own_hits for i in self._positions[self._sending[slot]])
            self._result_message = Result(len(peer_hits), tuple(sorted(peer_hits)))
            size = len(peer_hits)
        else:
            # Shuffled answers: only how many of them are among the initiator's doubly blinded elements.
            size = len(set(self._answers) & self._peer_tags.keys())
            self._result_message = Result(size)
        return PsiResult(self.mode, self.own_size, self.peer_size, size, matched)

    def _check_error(self) -> None:
        if self.error is not None:
            raise self.error

    def _check_usable(self) -> None:
        self._check_error()
        if self.state is State.DONE:
            self._fail(RemoteProtocolError("a message arrived after the session completed"))

    def _fail(self, error: CryptoError | MatcherError) -> CryptoError | MatcherError:
        """Enter the sticky ERROR state and raise ``error`` (the return type lets callers write ``raise``)."""
        self.state = State.ERROR
        self.error = error
        self._outbox = []
        self._ahead.clear()
        self._own_cursor = len(self._sending)
        self._result_message = None
        raise error


def check_open(message: Open, suite: Suite) -> None:
    """Refuse an Open of another protocol version or suite (a node checks this before any work)."""
    if message.protocol_version != PROTOCOL_VERSION:
        raise VersionMismatch(
            f"the peer opened with protocol version {_version_text(message.protocol_version)}; "
            f"this node speaks version {PROTOCOL_VERSION} only"
        )
    if message.suite != suite.name:
        # The peer's text is not echoed: errors end up in logs and the audit log.
        raise VersionMismatch(f"the peer asked for a suite we do not run; we run {suite.name}")


def permuted(items: list[bytes], key: bytes) -> list[bytes]:
    """``items`` (distinct) in the order of their keyed BLAKE2b-128 digests: a uniformly random permutation
    for a fresh random ``key``, the same one for the same key (which the test vectors rely on)."""
    if len(key) != PERMUTATION_KEY_LENGTH:
        raise LocalProtocolError("a permutation key is 32 bytes")
    return sorted(items, key=lambda item: hashlib.blake2b(item, digest_size=16, key=key).digest())


def _shuffle(items: list[bytes], random_bytes: RandomBytes) -> None:
    """Fisher-Yates with the injected randomness (rejection sampling keeps it unbiased)."""
    for i in range(len(items) - 1, 0, -1):
        j = _uniform_below(i + 1, random_bytes)
        items[i], items[j] = items[j], items[i]


def _version_text(version: int) -> str:
    # Version 1 nodes send no version field, which reads as 0.
    return "1 (it sends none)" if version == 0 else str(version)


def _uniform_below(bound: int, random_bytes: RandomBytes) -> int:
    nbytes = max(1, (bound.bit_length() + 7) // 8)
    limit = (256**nbytes // bound) * bound
    while True:
        value = int.from_bytes(random_bytes(nbytes), "big")
        if value < limit:
            return value % bound
