"""One PSI session, as initiator or responder, over any message link.

Both roles take the same steps -- the session's facts, the policy and quota check with its reservation, our
elements, pumping the sans-io :class:`~matcher.psi.PsiSession` through :func:`~node.matching.driver.drive`,
and recording how it ended with its real cause -- and :mod:`node.matching.steps` writes each once. The
network layer only turns frames into messages and status codes into names: this module knows no gRPC.

Whatever moment a session stops at (refused, failed, cancelled, the peer gone), it ends in the store and the
audit log. A fault of ours reaches the peer only as a fixed, generic detail; the full cause goes to our log.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass

from matcher.psi import Blinder, Mode, PeerMisbehaved, PsiResult, PsiSession, Role, blind_in_process
from node.config.settings import NodeConfig, Peer
from node.core.errors import SessionOverdue
from node.core.home import NodeHome
from node.matching import steps
from node.matching.driver import SESSION_IDLE_TIMEOUT_S, drive
from node.matching.link import Connect, Ending, Link, Opening, StatusOf
from node.matching.outcome import SessionFacts, record_failed

__all__ = ["PeerOutcome", "Responder", "initiate"]


@dataclass(frozen=True)
class PeerOutcome:
    peer: str
    mode: str
    status: str  # completed | failed
    own_size: int
    peer_size: int
    intersection: int
    new_alerts: int | None
    gone_alerts: int | None
    error: str | None
    seconds: float

    def as_json(self) -> dict[str, object]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Responder:
    """Answers the sessions peers open with this node."""

    home: NodeHome
    status_of: StatusOf
    blinder: Blinder = blind_in_process
    idle_timeout: float = SESSION_IDLE_TIMEOUT_S

    async def respond(self, config: NodeConfig, peer: Peer, opening: Opening, link: Link) -> Ending:
        """Run the session ``opening`` begins; the ending returned is what to answer the peer."""
        opened = opening.message
        facts = steps.facts(config, opening.session_id.hex(), peer.code, Role.RESPONDER, opened.mode, opening.key_types)
        refusal = await steps.check_and_reserve(self.home, config, peer, facts, opening, self.status_of)
        if refusal is not None:
            return refusal
        cancelled = "the peer cancelled the session"
        loaded = await steps.guarded(self.home, facts, lambda: (0, opened.set_size),
                                     steps.settled(steps.load, self.home, config.suite, peer, facts),
                                     self.status_of, cancelled)  # fmt: skip
        if isinstance(loaded, Ending):
            return loaded
        session = PsiSession(
            role=Role.RESPONDER,
            suite=steps.suite_of(config),
            elements=loaded.elements,
            random_bytes=os.urandom,
            allowed_modes=frozenset(Mode),
            max_peer_set_size=opened.set_size,
            blinder=self.blinder,
        )

        deadline = config.sessions.deadline_seconds

        async def pump() -> PsiResult:
            timer = asyncio.timeout(deadline)
            try:
                async with timer:
                    await asyncio.to_thread(session.receive, opened)
                    return await drive(session, send=link.send, incoming=link.received(),
                                       idle_timeout=self.idle_timeout)  # fmt: skip
            except TimeoutError:
                if not timer.expired():
                    raise
                raise SessionOverdue(f"the session ran past its deadline of {deadline} s") from None

        async def release() -> None:
            # Only now, with the session recorded, does the initiator learn its result.
            session.release_result()
            for message in session.outbox():
                await link.send(message)

        return await steps.conclude(self.home, facts, session, loaded, pump, self.status_of, cancelled, release)


async def initiate(
    home: NodeHome,
    config: NodeConfig,
    peer: Peer,
    mode: Mode,
    connect: Connect,
    status_of: StatusOf,
    progress: Callable[[PsiSession], None] | None = None,
    blinder: Blinder = blind_in_process,
) -> PeerOutcome:
    """Run one session with ``peer`` over the link ``connect`` opens; failures are returned, not raised."""
    started = asyncio.get_running_loop().time()
    facts = steps.facts(config, os.urandom(steps.SESSION_ID_LENGTH).hex(), peer.code, Role.INITIATOR, mode,
                        peer.policy.key_types)  # fmt: skip
    cancelled = "the session was cancelled on this node"
    prepared = await steps.guarded(home, facts, lambda: (0, 0),
                                   steps.settled(steps.prepare_initiator, home, peer, facts, config.suite),
                                   status_of, cancelled)  # fmt: skip
    if isinstance(prepared, Ending):
        return _outcome(facts, None, prepared, started)
    session_input, allowance = prepared
    session = PsiSession(
        role=Role.INITIATOR,
        suite=steps.suite_of(config),
        elements=session_input.elements,
        random_bytes=os.urandom,
        mode=mode,
        max_peer_set_size=allowance,
        blinder=blinder,
    )
    if allowance < 0:
        error = f"the 24-hour quota of keys for {peer.code} is used up"
        await asyncio.to_thread(record_failed, home, facts, session.own_size, 0, error, "RESOURCE_EXHAUSTED")
        return _outcome(facts, session, Ending("RESOURCE_EXHAUSTED", reason=error), started)
    session.start()
    opening = steps.opening(home, config, facts, session.outbox()[0])

    async def pump() -> PsiResult:
        async with connect(opening) as link:
            try:
                return await drive(session, send=link.send, incoming=link.received(), on_progress=progress,
                                   sent_all=link.sent_all, read_to_end=True)  # fmt: skip
            except PeerMisbehaved:
                link.cancel()
                raise
            except Exception as exc:
                link.cancel()
                withheld = session.ended_early()
                if withheld is not None:
                    # The responder had all it needed to learn the result; however the session ended, ours
                    # never came. The responder's own account (its status) is kept for the operator.
                    raise PeerMisbehaved(f"{withheld} ({exc})") from exc
                raise
            except BaseException:
                link.cancel()
                raise

    ending = await steps.conclude(home, facts, session, session_input, pump, status_of, cancelled)
    return _outcome(facts, session, ending, started)


def _outcome(facts: SessionFacts, session: PsiSession | None, ending: Ending, started: float) -> PeerOutcome:
    summary = ending.summary
    return PeerOutcome(
        peer=facts.peer,
        mode=facts.mode.value,
        status="completed" if ending.ok else "failed",
        own_size=0 if session is None else session.own_size,
        peer_size=0 if session is None else max(session.peer_size, 0),
        intersection=ending.intersection,
        new_alerts=None if summary is None else summary.new_alerts,
        gone_alerts=None if summary is None else summary.gone_alerts,
        error=None if ending.ok else f"{facts.peer}: {ending.reason}",
        seconds=round(asyncio.get_running_loop().time() - started, 3),
    )
