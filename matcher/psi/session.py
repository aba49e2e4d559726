"""The PSI session state machine: no I/O, no clock; randomness and the blinding backend are passed in.

Diffie-Hellman style PSI over the suite's prime-order group. With a the initiator's and b the responder's
secret scalar, and H the suite's hash-to-group (computed before the session and stored):

    initiator                                   responder
    Open(suite, mode, |X|)            ->
                                      <-        Accept(suite, mode, |Y|, tag length)
                                      <-        Elements(b.H(y) for y in Y)         (chunks)
    Elements(a.H(x) for x in X)       ->        (chunks)
                                      <-        Tags(tag(b.a.H(x)))  in X's order, or shuffled
    Tags(tag(a.b.H(y)))  in Y's order, or shuffled  ->

Each side sends its elements in a fresh uniformly random order every session (:func:`permuted`), so a
position says nothing about import order, case or an earlier session. Each side compares the tags of its
own elements with the tags it computed for the peer's elements. In mutual mode the tags answer the peer's
elements in the order the peer sent them, so each side learns which of its own elements matched; in
count-only mode they come back shuffled, so each side learns only how many. Neither side learns anything
else about the peer's set beyond its announced size (semi-honest model; see docs/protocol.md).

All legal transitions are in ``_TRANSITIONS``. Anything else is a protocol error that leaves the session in
a sticky ERROR state; the error's family says whose fault it was (:class:`LocalProtocolError` for our
caller, :class:`RemoteProtocolError` / :class:`PolicyRefused` for the peer).
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from crypto import BlindingKey, InvalidElement, Suite, match_handle, tag_length_for, tags_of
from crypto.errors import CryptoError
from matcher.errors import MatcherError
from matcher.psi.errors import LocalProtocolError, PolicyRefused, RemoteProtocolError
from matcher.psi.messages import Accept, Elements, Message, Mode, Open, Tags

__all__ = [
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
    "permuted",
]

PERMUTATION_KEY_LENGTH = 32
# 4096 elements of 32 bytes: 128 KiB per message, far below gRPC's 4 MB default limit.
DEFAULT_CHUNK = 4096

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
    """What this side learned.

    ``matched`` indexes the caller's element list; ``handles`` gives each matched index its match handle, an
    opaque value both sides derive from the same doubly blinded element, so either can name the match later
    without revealing the key. Both are None in count-only mode.
    """

    mode: Mode
    own_size: int
    peer_size: int
    intersection_size: int
    matched: frozenset[int] | None
    handles: Mapping[int, bytes] | None = None


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
    (Role.INITIATOR, State.EXCHANGE, Tags): "_on_tags",
    (Role.RESPONDER, State.EXCHANGE, Tags): "_on_tags",
}


class PsiSession:
    """One side of one PSI session.

    Drive it with :meth:`start` (initiator only), :meth:`receive` for each peer message, and :meth:`outbox`
    to collect the messages to send. ``elements`` are the suite's stored hash-to-group values; duplicates
    are sent once and every duplicate index is reported when matched.
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
        self._key = BlindingKey.generate(random_bytes)
        self._positions: dict[bytes, list[int]] = {}
        for index, element in enumerate(elements):
            if len(element) != suite.element_length:
                raise LocalProtocolError(f"element {index} has the wrong length for {suite.name}")
            self._positions.setdefault(element, []).append(index)
        # Elements leave in a fresh random order every session: nothing about import order, case or the
        # previous session survives in a position. Results map back through ``_positions``.
        self._unique = permuted(list(self._positions), random_bytes(PERMUTATION_KEY_LENGTH))
        self.state = State.IDLE if role is Role.INITIATOR else State.AWAIT_OPEN
        self.error: CryptoError | MatcherError | None = None
        self.result: PsiResult | None = None
        self.peer_size = -1
        self.tag_length = 0
        self._outbox: list[Message] = []
        self._peer_received = 0
        # tag -> doubly blinded element, for the peer's elements; the element yields the match handle.
        self._peer_tags: dict[bytes, bytes] = {}
        self._pending_peer_tags: list[bytes] = []  # count-only: held back until they can be shuffled
        self._own_tags: list[bytes] = []
        self._own_cursor = len(self._unique)  # position of the next own element to blind and send

    @property
    def own_size(self) -> int:
        """The announced size: distinct elements."""
        return len(self._unique)

    # -- driving ------------------------------------------------------------------------------------

    def start(self) -> None:
        """Initiator: queue the Open message."""
        self._check_usable()
        if self.role is not Role.INITIATOR or self.state is not State.IDLE:
            self._fail(LocalProtocolError(f"start() is not allowed for a {self.role.value} in {self.state.value}"))
        assert self.mode is not None
        self._outbox.append(Open(self.suite.name, self.mode, self.own_size))
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
        return events + self._maybe_complete()

    def outbox(self, max_chunks: int | None = None) -> list[Message]:
        """Messages to send, in order; drains the queue.

        Our own blinded elements are computed here, lazily, at most ``max_chunks`` chunks per call (all when
        None). A node calls it with a small budget so that its Accept and its first chunks leave at once
        and both sides blind in parallel instead of one waiting for the other's whole set.
        """
        out, self._outbox = self._outbox, []
        total = len(self._unique)
        budget = total if max_chunks is None else max_chunks
        while self._own_cursor < total and budget > 0:
            end = min(total, self._own_cursor + self._chunk)
            batch = self._blinder(self._key, self._unique[self._own_cursor : end])
            self._own_cursor = end
            out.append(Elements(b"".join(batch)))
            budget -= 1
        return out

    @property
    def elements_sent(self) -> int:
        """Own elements blinded and handed out by :meth:`outbox` so far (for progress displays)."""
        return self._own_cursor if self.state in (State.EXCHANGE, State.DONE) else 0

    @property
    def elements_received(self) -> int:
        """Peer elements received and processed so far (for progress displays)."""
        return self._peer_received

    @property
    def pending_output(self) -> bool:
        """Whether :meth:`outbox` has something to give now."""
        return bool(self._outbox) or self._own_cursor < len(self._unique)

    # -- handlers ------------------------------------------------------------------------------------

    def _on_open(self, message: Open) -> list[Event]:
        if message.suite != self.suite.name:
            # The peer's text is not echoed: errors end up in logs and the audit log.
            raise RemoteProtocolError(f"the peer asked for a suite we do not run; we run {self.suite.name}")
        if message.mode not in self._allowed_modes:
            raise PolicyRefused(f"mode {message.mode.value} is not allowed")
        self._check_peer_size(message.set_size)
        self.mode = message.mode
        self.tag_length = tag_length_for(message.set_size, self.own_size)
        self._outbox.append(Accept(self.suite.name, self.mode, self.own_size, self.tag_length))
        self._send_own_elements()
        self.state = State.EXCHANGE
        return [PeerAnnounced(self.mode, self.peer_size)]

    def _on_accept(self, message: Accept) -> list[Event]:
        if message.suite != self.suite.name or message.mode is not self.mode:
            raise RemoteProtocolError("the peer accepted a different suite or mode than we opened")
        self._check_peer_size(message.set_size)
        if message.tag_length != tag_length_for(self.own_size, message.set_size):
            raise RemoteProtocolError("the peer chose a tag length that does not fit the announced sizes")
        self.tag_length = message.tag_length
        self._send_own_elements()
        self.state = State.EXCHANGE
        assert self.mode is not None
        return [PeerAnnounced(self.mode, self.peer_size)]

    def _on_elements(self, message: Elements) -> list[Event]:
        width = self.suite.element_length
        count, rest = divmod(len(message.data), width)
        if rest or count == 0:
            raise RemoteProtocolError("an elements chunk must hold a positive whole number of elements")
        if self._peer_received + count > self.peer_size:
            raise RemoteProtocolError("the peer sent more elements than it announced")
        received = [message.data[i : i + width] for i in range(0, len(message.data), width)]
        doubled = self._blinder(self._key, received)
        tags = tags_of(doubled, self.tag_length)
        self._peer_received += count
        self._peer_tags.update(zip(tags, doubled, strict=True))
        if self.mode is Mode.MUTUAL:
            self._outbox.append(Tags(b"".join(tags)))
        else:
            self._pending_peer_tags.extend(tags)
            if self._peer_received == self.peer_size:
                self._send_shuffled_tags()
        return []

    def _on_tags(self, message: Tags) -> list[Event]:
        count, rest = divmod(len(message.data), self.tag_length)
        if rest or count == 0:
            raise RemoteProtocolError("a tags chunk must hold a positive whole number of tags")
        # A tag answers an element we sent; more tags than elements sent so far is out of order or oversized.
        if len(self._own_tags) + count > self._own_cursor:
            raise RemoteProtocolError("the peer sent more tags than we have sent elements")
        t = self.tag_length
        self._own_tags.extend(message.data[i : i + t] for i in range(0, len(message.data), t))
        return []

    # -- helpers -------------------------------------------------------------------------------------

    def _check_peer_size(self, size: int) -> None:
        if size < 0:
            raise RemoteProtocolError("the peer announced a negative set size")
        if size > self._max_peer:
            raise PolicyRefused(f"the peer announced {size} elements; the limit is {self._max_peer}")
        self.peer_size = size

    def _send_own_elements(self) -> None:
        # Only marks them due; outbox() blinds them chunk by chunk.
        self._own_cursor = 0

    def _send_shuffled_tags(self) -> None:
        tags = self._pending_peer_tags
        self._pending_peer_tags = []
        # Fisher-Yates with the injected randomness (rejection sampling keeps it unbiased).
        for i in range(len(tags) - 1, 0, -1):
            j = _uniform_below(i + 1, self._random)
            tags[i], tags[j] = tags[j], tags[i]
        for start in range(0, len(tags), self._chunk):
            self._outbox.append(Tags(b"".join(tags[start : start + self._chunk])))

    def _maybe_complete(self) -> list[Event]:
        if self.state is not State.EXCHANGE:
            return []
        if self._peer_received != self.peer_size or len(self._own_tags) != self.own_size:
            return []
        assert self.mode is not None
        hits = [i for i, tag in enumerate(self._own_tags) if tag in self._peer_tags]
        matched: frozenset[int] | None = None
        handles: dict[int, bytes] | None = None
        if self.mode is Mode.MUTUAL:
            handles = {}
            for i in hits:
                handle = match_handle(self._peer_tags[self._own_tags[i]])
                for position in self._positions[self._unique[i]]:
                    handles[position] = handle
            matched = frozenset(handles)
        self.result = PsiResult(self.mode, self.own_size, self.peer_size, len(hits), matched, handles)
        self.state = State.DONE
        return [SessionCompleted(self.result)]

    def _check_usable(self) -> None:
        if self.error is not None:
            raise self.error
        if self.state is State.DONE:
            self._fail(RemoteProtocolError("a message arrived after the session completed"))

    def _fail(self, error: CryptoError | MatcherError) -> CryptoError | MatcherError:
        """Enter the sticky ERROR state and raise ``error`` (the return type lets callers write ``raise``)."""
        self.state = State.ERROR
        self.error = error
        self._outbox = []
        self._own_cursor = len(self._unique)
        raise error


def permuted(items: list[bytes], key: bytes) -> list[bytes]:
    """``items`` (distinct) in the order of their keyed BLAKE2b-128 digests: a uniformly random permutation
    for a fresh random ``key``, the same one for the same key (which the test vectors rely on)."""
    if len(key) != PERMUTATION_KEY_LENGTH:
        raise LocalProtocolError("a permutation key is 32 bytes")
    return sorted(items, key=lambda item: hashlib.blake2b(item, digest_size=16, key=key).digest())


def _uniform_below(bound: int, random_bytes: RandomBytes) -> int:
    nbytes = max(1, (bound.bit_length() + 7) // 8)
    limit = (256**nbytes // bound) * bound
    while True:
        value = int.from_bytes(random_bytes(nbytes), "big")
        if value < limit:
            return value % bound
