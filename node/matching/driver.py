"""Driving a sans-io PSI session over an async message stream.

Two loops share the session under a lock: one feeds it every message that arrives, the other sends what it
has to send, computing our own blinded elements one chunk at a time so that both nodes blind in parallel.
The CPU-bound session calls run in a worker thread so the event loop keeps serving other calls.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

from matcher.psi import Message, PsiResult, PsiSession, RemoteProtocolError, State
from node.core.errors import PeerIdle

__all__ = ["SESSION_IDLE_TIMEOUT_S", "drive"]

# A peer's next chunk follows within seconds even for sets of millions (about 0.1 s of blinding per chunk);
# two minutes of silence is a peer that stalled or went away.
SESSION_IDLE_TIMEOUT_S = 120.0

Send = Callable[[Message], Awaitable[None]]


class _Pump:
    """The two loops of one session: one sends what the session has ready, one feeds it what arrives.

    A lock keeps the session's steps one at a time (each runs in a worker thread); ``wake`` tells the sender
    that a received message may have produced output.
    """

    def __init__(
        self,
        session: PsiSession,
        send: Send,
        chunks_per_turn: int,
        on_progress: Callable[[PsiSession], None] | None,
        sent_all: Callable[[], Awaitable[None]] | None,
    ) -> None:
        self.session = session
        self.send = send
        self.chunks_per_turn = chunks_per_turn
        self.on_progress = on_progress
        self.sent_all = sent_all
        self.lock = asyncio.Lock()
        self.wake = asyncio.Event()

    def _progressed(self) -> None:
        if self.on_progress is not None:
            self.on_progress(self.session)

    async def outgoing(self) -> None:
        session = self.session
        while True:
            self.wake.clear()
            async with self.lock:
                # What is already queued (an Accept, answers) leaves before we blind more of our own, so
                # the peer can go on with its part meanwhile.
                messages = session.outbox(0)
                if not messages:
                    messages = await asyncio.to_thread(session.outbox, self.chunks_per_turn)
                ahead = not messages and session.can_blind_ahead
                if ahead:  # waiting for the Accept: blind the first chunks meanwhile
                    await asyncio.to_thread(session.blind_ahead)
            if ahead:
                continue
            for message in messages:
                await self.send(message)
            if messages:
                self._progressed()
            # Done, or an initiator with everything sent that only waits for the Result: half-close now.
            finished = session.state is State.DONE or session.awaiting_result
            if finished and not session.pending_output:
                if self.sent_all is not None:
                    await self.sent_all()
                return
            if not messages and not session.pending_output:
                await self.wake.wait()

    async def incoming(self, incoming: AsyncIterator[Message], read_to_end: bool, idle_timeout: float) -> None:
        session = self.session
        messages = aiter(incoming)
        while True:
            try:
                message = await asyncio.wait_for(anext(messages), idle_timeout)
            except StopAsyncIteration:
                break
            except TimeoutError:
                raise PeerIdle(f"the peer sent nothing for {idle_timeout:.0f} s") from None
            async with self.lock:
                await asyncio.to_thread(session.receive, message)
            self.wake.set()
            self._progressed()
            if session.state is State.DONE and not read_to_end:
                return
        if session.state is not State.DONE:
            raise session.ended_early() or RemoteProtocolError("the peer ended the session before it was complete")


async def drive(
    session: PsiSession,
    send: Send,
    incoming: AsyncIterator[Message],
    *,
    chunks_per_turn: int = 1,
    on_progress: Callable[[PsiSession], None] | None = None,
    sent_all: Callable[[], Awaitable[None]] | None = None,
    read_to_end: bool = False,
    idle_timeout: float = SESSION_IDLE_TIMEOUT_S,
) -> PsiResult:
    """Run ``session`` to completion; raises the session's error or a transport error.

    ``sent_all`` runs once our last message is out (the client half-closes its stream there).
    ``read_to_end`` keeps reading after completion until the peer closes, so the peer's final status (and
    any failure it reports) reaches us; otherwise reading stops as soon as the session is complete.
    ``idle_timeout`` ends a session whose peer sends nothing for that long (it would otherwise hold our set,
    a thread and its share of the daily quota for as long as it liked).
    """
    pump = _Pump(session, send, chunks_per_turn, on_progress, sent_all)
    sender = asyncio.ensure_future(pump.outgoing())
    receiver = asyncio.ensure_future(pump.incoming(incoming, read_to_end, idle_timeout))
    try:
        done, _ = await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            task.result()  # re-raise the first failure
        await asyncio.gather(sender, receiver)
    finally:
        for task in (sender, receiver):
            if not task.done():
                task.cancel()
    assert session.result is not None
    return session.result
