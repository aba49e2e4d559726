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
    lock = asyncio.Lock()
    wake = asyncio.Event()

    async def outgoing() -> None:
        while True:
            wake.clear()
            async with lock:
                messages = await asyncio.to_thread(session.outbox, chunks_per_turn)
            for message in messages:
                await send(message)
            if on_progress is not None and messages:
                on_progress(session)
            if session.state is State.DONE and not session.pending_output:
                if sent_all is not None:
                    await sent_all()
                return
            if not messages and not session.pending_output:
                await wake.wait()

    async def incoming_loop() -> None:
        messages = aiter(incoming)
        while True:
            try:
                message = await asyncio.wait_for(anext(messages), idle_timeout)
            except StopAsyncIteration:
                break
            except TimeoutError:
                raise PeerIdle(f"the peer sent nothing for {idle_timeout:.0f} s") from None
            async with lock:
                await asyncio.to_thread(session.receive, message)
            wake.set()
            if on_progress is not None:
                on_progress(session)
            if session.state is State.DONE and not read_to_end:
                return
        if session.state is not State.DONE:
            raise RemoteProtocolError("the peer ended the session before it was complete")

    sender = asyncio.ensure_future(outgoing())
    receiver = asyncio.ensure_future(incoming_loop())
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
