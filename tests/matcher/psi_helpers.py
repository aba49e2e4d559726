"""Two PSI sessions wired together in memory."""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Sequence

from crypto import DEFAULT_SUITE
from matcher.psi import Message, Mode, PsiSession, Result, Role, State

SECRET = b"k" * 32
POOL = DEFAULT_SUITE.hash_keys(SECRET, [("phone", f"+3162000{i:04d}") for i in range(64)])


def seeded(seed: int) -> Callable[[int], bytes]:
    rng = random.Random(seed)
    return rng.randbytes


def pair(
    ours: Sequence[bytes],
    theirs: Sequence[bytes],
    mode: Mode,
    seed: int = 1,
    chunk_size: int = 3,
    max_peer_set_size: int = 1000,
) -> tuple[PsiSession, PsiSession]:
    initiator = PsiSession(
        role=Role.INITIATOR,
        suite=DEFAULT_SUITE,
        elements=ours,
        random_bytes=seeded(seed),
        mode=mode,
        chunk_size=chunk_size,
        max_peer_set_size=max_peer_set_size,
    )
    responder = PsiSession(
        role=Role.RESPONDER,
        suite=DEFAULT_SUITE,
        elements=theirs,
        random_bytes=seeded(seed + 1),
        chunk_size=chunk_size,
        max_peer_set_size=max_peer_set_size,
    )
    return initiator, responder


def pump(initiator: PsiSession, responder: PsiSession, release: bool = True) -> list[tuple[str, Message]]:
    """Run both sides to the end; returns the transcript as (direction, message).

    The responder releases its Result as soon as it decided (a node records first); ``release=False``
    leaves it withheld.
    """
    transcript: list[tuple[str, Message]] = []
    queue: deque[tuple[PsiSession, Message]] = deque()
    initiator.start()
    queue.extend((responder, m) for m in initiator.outbox())
    while queue:
        target, message = queue.popleft()
        transcript.append(("i->r" if target is responder else "r->i", message))
        target.receive(message)
        done = target is responder and release and responder.state is State.DONE and not responder.pending_output
        if done and not any(isinstance(m, Result) for _, m in transcript):
            responder.release_result()
        other = initiator if target is responder else responder
        queue.extend((other, m) for m in target.outbox())
    return transcript
