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
import logging
import os
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from sqlite_utils import Database

from matcher.psi import Blinder, Mode, Open, PeerMisbehaved, PsiResult, PsiSession, Role, blind_in_process
from matcher.psi.epoch import EpochSession
from node.config.settings import NodeConfig, Peer
from node.core.errors import SessionOverdue
from node.core.home import NodeHome
from node.matching import steps
from node.matching.driver import SESSION_IDLE_TIMEOUT_S, drive
from node.matching.epochs import EpochPlan, KeptEpoch, end_epoch_of, keeper, merge_epoch
from node.matching.link import Connect, Ending, Link, Opening, StatusOf
from node.matching.outcome import SessionFacts, record_failed
from node.store import open_for_session
from node.store.epochs import InitiatorStoreBook, ResponderStoreBook

__all__ = ["PeerOutcome", "Responder", "initiate"]

log = logging.getLogger("casebridge.session")


@dataclass(frozen=True)
class PeerOutcome:
    peer: str
    mode: str
    kind: str  # full | delta
    status_code: str  # OK, or the status the session ended with
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
        facts = replace(
            steps.facts(config, opening.session_id.hex(), peer.code, Role.RESPONDER, opened.mode, opening.key_types),
            kind=steps.kind_of(opened),
        )  # fmt: skip
        refusal = await steps.check_and_reserve(self.home, config, peer, facts, opening, self.status_of)
        if refusal is not None:
            return refusal
        cancelled = "the peer cancelled the session"
        loaded = await steps.guarded(self.home, facts, lambda: (0, opened.set_size),
                                     steps.settled(steps.load, self.home, config, peer, facts, opened),
                                     self.status_of, cancelled)  # fmt: skip
        if isinstance(loaded, Ending):
            return loaded
        with _book_database(self.home, loaded.plan) as book_db, _attempt_held(loaded.plan, facts.peer) as settle:
            session = _session(Role.RESPONDER, config, loaded, book_db, self.blinder, opened.set_size)
            ending = settle(await self._run(config, opened, link, facts, session, loaded, cancelled))
        # After the call: the initiator reads our final status before it records, and must not wait for this.
        _after_the_call(_tidy(self.home, facts, loaded.plan, ending))
        return ending

    async def _run(self, config: NodeConfig, opened: Open, link: Link, facts: SessionFacts, session: PsiSession,
                   loaded: steps.Loaded, cancelled: str) -> Ending:  # fmt: skip
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

        keep = _keeper(self.home, facts, Role.RESPONDER, loaded, session, opened)
        return await steps.conclude(self.home, facts, session, loaded.session_input, pump, self.status_of,
                                    cancelled, release, keep)  # fmt: skip


@contextmanager
def _book_database(home: NodeHome, plan: EpochPlan) -> Iterator[Database | None]:
    """The connection a delta's book reads through, for the session's lifetime (None: no book)."""
    if plan.row is None:
        yield None
        return
    db = open_for_session(home)
    try:
        yield db
    finally:
        db.close()


_AFTER_THE_CALL: set[asyncio.Task[None]] = set()


def _after_the_call(work: Coroutine[Any, Any, None]) -> None:
    """Run ``work`` once the current call has returned (the task is kept until it is done)."""
    task = asyncio.get_running_loop().create_task(work)
    _AFTER_THE_CALL.add(task)
    task.add_done_callback(_AFTER_THE_CALL.discard)


async def _tidy(home: NodeHome, facts: SessionFacts, plan: EpochPlan, ending: Ending) -> None:
    """After a completed session of an epoch (its Result already sent or recorded): merge the epoch's
    levels when due. A store that cannot take it now leaves it to the next session."""
    if not ending.ok or not plan.in_epoch:
        return
    try:
        await steps.settled(merge_epoch, home, facts.peer, Role(facts.role))
    except Exception as exc:
        log.warning("could not merge the epoch with %s now (%s); the next session will", facts.peer,
                    type(exc).__name__)  # fmt: skip


@contextmanager
def _attempt_held(plan: EpochPlan, peer: str) -> Iterator[Callable[[Ending], Ending]]:
    """Hold a full session's attempt while it runs: destroyed once the session completed (or ended with
    one side taking the other for a cheat), kept for the retry however else it ends."""
    attempt = plan.attempt
    settled: list[Ending] = []

    def settle(ending: Ending) -> Ending:
        settled.append(ending)
        return ending

    try:
        yield settle
    finally:
        if attempt is not None:
            if settled and settled[0].status in ("OK", "ABORTED"):
                if attempt.reused:
                    log.info("the full session with %s reused %d of the %d points its attempts multiplied",
                             peer, attempt.reused, attempt.reused + attempt.computed)  # fmt: skip
                attempt.destroy()
            else:
                attempt.keep()


def _session(
    role: Role, config: NodeConfig, loaded: steps.Loaded, book_db: Database | None, blinder: Blinder,
    max_peer_set_size: int, mode: Mode | None = None,
) -> PsiSession:  # fmt: skip
    """The sans-io session for ``loaded``: a plain one, or one of an epoch (its full session or a delta)."""
    plan = loaded.plan
    if not plan.in_epoch:
        return PsiSession(
            role=role, suite=steps.suite_of(config), elements=list(plan.elements), random_bytes=os.urandom,
            mode=mode, allowed_modes=frozenset(Mode), max_peer_set_size=max_peer_set_size, blinder=blinder,
        )  # fmt: skip
    assert plan.key is not None
    attempt = plan.attempt
    book: InitiatorStoreBook | ResponderStoreBook | None = None
    if plan.row is not None and book_db is not None:
        book = (
            InitiatorStoreBook(book_db, plan.row) if role is Role.INITIATOR else ResponderStoreBook(book_db, plan.row)
        )
    return EpochSession(
        role=role, suite=steps.suite_of(config), elements=list(plan.elements), random_bytes=os.urandom,
        key=plan.key, epoch_id=plan.epoch_id, book=book, removed=plan.removed, keep=plan.keep,
        max_peer_set_size=max_peer_set_size, blinder=blinder if attempt is None else attempt.blinder(blinder),
        canary_random=None if attempt is None else attempt.canary_random(),
    )  # fmt: skip


def _keeper(home: NodeHome, facts: SessionFacts, role: Role, loaded: steps.Loaded, session: PsiSession,
            opened: Open | None) -> Callable[[Database], KeptEpoch | None] | None:  # fmt: skip
    if not isinstance(session, EpochSession):
        return None
    return keeper(
        home, facts.peer, role, facts.key_types, loaded.plan, session, opened, loaded.generation, loaded.changes_mark
    )


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
    """Run one session with ``peer`` over the link ``connect`` opens; failures are returned, not raised.

    A delta the peer refuses because it no longer keeps the epoch ends ours, and a full session opening a
    new epoch runs at once."""
    outcome, loaded = await _initiate(home, config, peer, mode, connect, status_of, progress, blinder)
    row = None if loaded is None else loaded.plan.row
    if row is None or outcome.status == "completed" or outcome.status_code != "FAILED_PRECONDITION":
        return outcome
    await steps.settled(end_epoch_of, home, row, "the peer no longer keeps the epoch")
    log.info("the epoch with %s ended at the peer; opening a new one with a full session", peer.code)
    again, _ = await _initiate(home, config, peer, mode, connect, status_of, progress, blinder)
    return again


async def _initiate(
    home: NodeHome, config: NodeConfig, peer: Peer, mode: Mode, connect: Connect, status_of: StatusOf,
    progress: Callable[[PsiSession], None] | None, blinder: Blinder,
) -> tuple[PeerOutcome, steps.Loaded | None]:  # fmt: skip
    started = asyncio.get_running_loop().time()
    facts = steps.facts(config, os.urandom(steps.SESSION_ID_LENGTH).hex(), peer.code, Role.INITIATOR, mode,
                        peer.policy.key_types)  # fmt: skip
    cancelled = "the session was cancelled on this node"
    loaded = await steps.guarded(home, facts, lambda: (0, 0),
                                 steps.settled(steps.prepare_initiator, home, config, peer, facts),
                                 status_of, cancelled)  # fmt: skip
    if isinstance(loaded, Ending):
        return _outcome(facts, None, loaded, started), None
    facts = loaded.facts
    with _book_database(home, loaded.plan) as book_db, _attempt_held(loaded.plan, facts.peer) as settle:
        session = _session(Role.INITIATOR, config, loaded, book_db, blinder, max(loaded.allowance, 0), mode)
        if loaded.allowance < 0:
            error = f"the 24-hour quota of keys for {facts.kind} sessions with {peer.code} is used up"
            await asyncio.to_thread(record_failed, home, facts, session.own_size, 0, error, "RESOURCE_EXHAUSTED")
            return _outcome(facts, session, Ending("RESOURCE_EXHAUSTED", reason=error), started), loaded
        session.start()
        opening = steps.opening(home, config, facts, session.outbox()[0])
        pump = _initiator_pump(session, connect, opening, progress)
        keep = _keeper(home, facts, Role.INITIATOR, loaded, session, None)
        ending = settle(await steps.conclude(home, facts, session, loaded.session_input, pump, status_of,
                                             cancelled, epoch=keep))  # fmt: skip
    await _tidy(home, facts, loaded.plan, ending)
    return _outcome(facts, session, ending, started), loaded


def _initiator_pump(session: PsiSession, connect: Connect, opening: Opening,
                    progress: Callable[[PsiSession], None] | None) -> Callable[[], Awaitable[PsiResult]]:  # fmt: skip
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

    return pump


def _outcome(facts: SessionFacts, session: PsiSession | None, ending: Ending, started: float) -> PeerOutcome:
    summary = ending.summary
    return PeerOutcome(
        peer=facts.peer,
        mode=facts.mode.value,
        kind=facts.kind,
        status_code=ending.status,
        status="completed" if ending.ok else "failed",
        own_size=0 if session is None else session.own_size,
        peer_size=0 if session is None else max(session.peer_size, 0),
        intersection=ending.intersection,
        new_alerts=None if summary is None else summary.new_alerts,
        gone_alerts=None if summary is None else summary.gone_alerts,
        error=None if ending.ok else f"{facts.peer}: {ending.reason}",
        seconds=round(asyncio.get_running_loop().time() - started, 3),
    )
