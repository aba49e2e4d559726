"""The steps every session takes, whichever role this node plays in it (see :mod:`node.matching.runner`)."""

from __future__ import annotations

import asyncio
import hmac
import logging
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from sqlite_utils import Database

from crypto.suite import Suite, suite_by_name
from matcher.psi import Message, Mode, Open, PeerMisbehaved, PsiResult, PsiSession, Role, check_open
from node.config.settings import NodeConfig, Peer
from node.core.clock import ago_iso, now_iso, today_iso
from node.core.errors import EXPECTED_ERRORS, FederationMismatch, PermissionRefused, QuotaExceeded, fault_of
from node.core.home import NodeHome
from node.matching.elements import OurKeys, SessionInput
from node.matching.epochs import EpochPlan, KeptEpoch, initiator_plan, responder_plan, with_attempt
from node.matching.link import Ending, LinkBroken, Opening, StatusOf
from node.matching.outcome import SessionFacts, record_completed, record_failed, record_refused, record_started
from node.store import open_database, transaction
from node.store.key_changes import changes_mark
from node.store.schedule import CASES_GENERATION, marker
from node.store.sessions import (
    claim_session,
    initiator_running,
    keys_blinded_since,
    keys_charged_since,
    set_own_size,
)

__all__ = [
    "MIN_CHARGE",
    "QUOTA_WINDOW_S",
    "SESSION_ID_LENGTH",
    "Loaded",
    "check_and_reserve",
    "conclude",
    "facts",
    "guarded",
    "opening",
    "record",
    "settled",
    "suite_of",
]

log = logging.getLogger("casebridge.session")
_T = TypeVar("_T")

# Every session a peer opens costs its quota at least this many keys, however few it announced: a session
# costs us a load and a blinding of our whole set, so an empty one must not be free.
MIN_CHARGE = 1_000
# Quotas count over a rolling window, not a calendar day (which would let twice the quota through around
# midnight).
QUOTA_WINDOW_S = 24 * 3600
# Session ids are 16 random bytes (the wire checks the same length on every Open it reads).
SESSION_ID_LENGTH = 16
# What a peer reads when the fault is ours; the full cause stays in our log and our audit log.
GENERIC_DETAIL = {
    Role.RESPONDER.value: "the responder could not complete the session (internal error)",
    Role.INITIATOR.value: "the initiator could not complete the session (internal error)",
}


def facts(
    config: NodeConfig, session_id: str, peer: str, role: Role, mode: Mode, key_types: tuple[str, ...]
) -> SessionFacts:
    return SessionFacts(session_id, peer, role.value, mode, key_types, now_iso(), today_iso(), config.agency)


def kind_of(message: Open) -> str:
    return "delta" if message.delta else "full"


@dataclass(frozen=True)
class Loaded:
    """Our side of a session: all our current keys (what matches maps back to), how this session runs
    with respect to epochs (what it sends), and the case generation the keys were read at."""

    session_input: SessionInput
    plan: EpochPlan
    generation: int
    changes_mark: int  # the last key change the keys take in (node.store.key_changes.changes_mark)
    facts: SessionFacts
    allowance: int = 0  # initiator: how many keys the peer may announce (-1: its quota is used up)


def _quota(peer: Peer, kind: str) -> int:
    """The keys ``peer`` may bring in sessions of ``kind`` in any 24 hours: full and delta count apart."""
    return peer.policy.daily_delta_quota if kind == "delta" else peer.policy.daily_quota


def suite_of(config: NodeConfig) -> Suite:
    return suite_by_name(config.suite)


def opening(home: NodeHome, config: NodeConfig, session: SessionFacts, message: Message) -> Opening:
    session_id = bytes.fromhex(session.session_id)
    proof = suite_of(config).federation_proof(home.read_federation_secret(), session_id)
    if not isinstance(message, Open):
        raise TypeError("an initiator's first message is its Open")
    return Opening(message, session_id, session.key_types, proof)


async def settled(work: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
    """``work`` in a worker thread; a cancellation waits for it to finish, so what it wrote is known."""
    task = asyncio.ensure_future(asyncio.to_thread(work, *args, **kwargs))
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.wait({task})
        raise


async def record(work: Callable[..., object], *args: Any, **kwargs: Any) -> None:
    """Record an ending; a store that cannot take it (locked, read-only) leaves it to our log."""
    try:
        await settled(work, *args, **kwargs)
    except Exception as exc:
        log.error("could not record a session ending (%s): %s", type(exc).__name__, exc)


def where(exc: BaseException) -> str:
    """An unexpected error's kind and the line it came from, for our log. Its message is left out: only
    our own errors are written never to carry identifiers or key material."""
    frames = traceback.extract_tb(exc.__traceback__)
    place = f" at {frames[-1].filename}:{frames[-1].lineno} in {frames[-1].name}" if frames else ""
    return f"{type(exc).__name__}{place}"


def ending_for(exc: BaseException, role: str, status_of: StatusOf) -> Ending:
    """The ending an error makes: the peer's faults keep their text, ours become the generic detail."""
    if isinstance(exc, LinkBroken):
        return Ending(exc.status, str(exc), str(exc))
    status = status_of(exc)
    if fault_of(exc) == "remote":
        return Ending(status, str(exc), str(exc))
    reason = str(exc) if isinstance(exc, EXPECTED_ERRORS) else f"internal error ({type(exc).__name__})"
    return Ending(status, GENERIC_DETAIL[role], reason)


async def guarded(
    home: NodeHome,
    session: SessionFacts,
    sizes: Callable[[], tuple[int, int]],
    work: Awaitable[_T],
    status_of: StatusOf,
    cancelled: str,
) -> _T | Ending:
    """Await ``work`` for a running session; a failure or cancellation ends the session with its cause."""
    try:
        return await work
    except asyncio.CancelledError:
        await record(record_failed, home, session, *sizes(), cancelled, "CANCELLED")
        log.warning("session %s with %s: %s", session.session_id[:8], session.peer, cancelled)
        raise
    except Exception as exc:
        ending = ending_for(exc, session.role, status_of)
        misbehaved = isinstance(exc, PeerMisbehaved)
        await record(record_failed, home, session, *sizes(), ending.reason or "", ending.status, misbehaved)
        if misbehaved:
            log.error("session %s with %s: %s", session.session_id[:8], session.peer, exc)
        elif isinstance(exc, EXPECTED_ERRORS):
            log.warning("session %s with %s failed: %s", session.session_id[:8], session.peer, exc)
        else:
            log.error("session %s with %s failed inside this node: %s", session.session_id[:8], session.peer,
                      where(exc))  # fmt: skip
        return ending


def _check_policy(home: NodeHome, config: NodeConfig, peer: Peer, opened: Opening) -> None:
    check_open(opened.message, suite_of(config))
    expected = suite_of(config).federation_proof(home.read_federation_secret(), opened.session_id)
    if not hmac.compare_digest(expected, opened.federation_proof):
        raise FederationMismatch(
            f"{peer.code} holds a different federation secret than we do, so no key could ever match; "
            "both agencies must init with the same federation.secret"
        )
    policy = peer.policy
    excluded = [t for t in opened.key_types if t not in policy.key_types]
    if excluded:
        raise PermissionRefused(
            f"{peer.code} may not match on key type(s) {', '.join(excluded)} here; "
            f"allowed: {', '.join(policy.key_types)}; align the two policies ('casebridge peers update')"
        )
    if opened.message.set_size > policy.max_set_size:
        raise QuotaExceeded(
            f"{peer.code} announced {opened.message.set_size} keys; its limit per session is {policy.max_set_size}"
        )


def _reserve(home: NodeHome, peer: Peer, session: SessionFacts, set_size: int) -> None:
    """Count the session against the last 24 hours' quota, at least :data:`MIN_CHARGE` keys; check and
    reservation share one write transaction, so concurrent sessions cannot together exceed the quota."""
    db = open_database(home)
    charge = max(set_size, MIN_CHARGE)
    quota = _quota(peer, session.kind)
    with transaction(db):
        if session.agency < peer.code and initiator_running(db, peer.code):
            # Two nodes that open a session with each other at once would run both: the node whose code
            # sorts first keeps its own, and the other tries again once it has ended.
            raise QuotaExceeded(f"this node is running a session with {peer.code} itself; try again when it ends")
        used = keys_charged_since(db, peer.code, ago_iso(QUOTA_WINDOW_S), MIN_CHARGE, session.kind)
        if used + charge > quota:
            raise QuotaExceeded(
                f"{peer.code} has used {used} of its {quota} keys for {session.kind} sessions in the last 24 "
                f"hours; this session would count {charge} more (every session counts at least {MIN_CHARGE})"
            )
        record_started(db, session, set_size)


async def check_and_reserve(
    home: NodeHome, config: NodeConfig, peer: Peer, session: SessionFacts, opened: Opening, status_of: StatusOf
) -> Ending | None:
    """Refuse what the peer's policy does not allow, before any work; None: the session may run."""
    announced = opened.message.set_size
    try:
        _check_policy(home, config, peer, opened)
        await settled(_reserve, home, peer, session, announced)
    except asyncio.CancelledError:
        # Cancelled right after the Open: the reservation (if it was made) is closed with the cause.
        await record(record_failed, home, session, 0, announced, "the peer cancelled the session", "CANCELLED")
        raise
    except Exception as exc:
        ending = ending_for(exc, session.role, status_of)
        await record(record_refused, home, peer=peer.code, reason=ending.reason or "", code=ending.status,
                      facts=session, announced=announced, key_types=opened.key_types)  # fmt: skip
        log.warning("refused a session from %s: %s", peer.code, ending.reason)
        return ending
    return None


def load(home: NodeHome, config: NodeConfig, peer: Peer, session: SessionFacts, opened: Open) -> Loaded:
    """Our side of a session ``peer`` opened, charged to the keys we blind for it in 24 hours (a delta
    blinds only our new keys)."""
    db = open_database(home)
    generation = marker(db, CASES_GENERATION) or 0  # read first: a change after it counts as not covered
    keys = OurKeys(db, config.suite, session.key_types)
    with transaction(db):
        mark = changes_mark(db)  # inside the write lock: the keys read next take in every change up to it
        plan = responder_plan(home, db, config, peer, opened, session.key_types, keys)
        if isinstance(plan, EpochPlan):
            own = len(plan.elements)
            done = keys_blinded_since(db, peer.code, ago_iso(QUOTA_WINDOW_S))
            if done + own > peer.policy.daily_work:
                raise QuotaExceeded(
                    f"this node has blinded {done} of the {peer.policy.daily_work} keys it blinds for "
                    f"{peer.code}'s sessions in 24 hours; try again later"
                )
            set_own_size(db, session.session_id, session.peer, session.role, own, generation, mark)
    if not isinstance(plan, EpochPlan):
        raise plan  # the epoch it ended is committed first
    plan = with_attempt(home, config, peer, Role.RESPONDER, plan, session.key_types)
    return Loaded(keys.session_input, plan, generation, mark, session)


def prepare_initiator(home: NodeHome, config: NodeConfig, peer: Peer, session: SessionFacts) -> Loaded:
    """Our side of a session we open, as a full session or a delta of our epoch with ``peer``, and how many
    keys we still accept from it in this 24-hour window for that kind of session (-1: none)."""
    db = open_database(home)
    generation = marker(db, CASES_GENERATION) or 0
    keys = OurKeys(db, config.suite, session.key_types)
    policy = peer.policy
    with transaction(db):
        mark = changes_mark(db)
        plan = initiator_plan(home, db, config, peer, session.mode, session.key_types, keys)
        session = replace(session, kind=plan.kind)
        used = keys_charged_since(db, peer.code, ago_iso(QUOTA_WINDOW_S), MIN_CHARGE, plan.kind)
        left = _quota(peer, plan.kind) - used
        if left <= 0:
            return Loaded(keys.session_input, plan, generation, mark, session, -1)
        record_started(db, session, 0)
        claim_session(db, session.session_id, session.peer, session.role)
        set_own_size(db, session.session_id, session.peer, session.role, len(plan.elements), generation, mark)
    plan = with_attempt(home, config, peer, Role.INITIATOR, plan, session.key_types)
    return Loaded(keys.session_input, plan, generation, mark, session, min(policy.max_set_size, left))


async def conclude(
    home: NodeHome,
    session: SessionFacts,
    psi: PsiSession,
    session_input: SessionInput,
    pump: Callable[[], Awaitable[PsiResult]],
    status_of: StatusOf,
    cancelled: str,
    recorded: Callable[[], Awaitable[None]] | None = None,
    epoch: Callable[[Database], KeptEpoch | None] | None = None,
) -> Ending:
    """Pump the session to its end and record it, completed or failed, with the real cause.

    ``recorded`` runs once the result is recorded (a responder sends the initiator its Result there);
    ``epoch`` records the session's epoch with it (:func:`node.matching.epochs.keeper`).
    """

    def sizes() -> tuple[int, int]:
        return psi.own_size, max(psi.peer_size, 0)

    result = await guarded(home, session, sizes, pump(), status_of, cancelled)
    if isinstance(result, Ending):
        return result
    recording = settled(record_completed, home, session, session_input, result, epoch)
    summary = await guarded(home, session, sizes, recording, status_of, cancelled)
    if isinstance(summary, Ending):
        return summary
    if recorded is not None:
        sent = await guarded(home, session, sizes, recorded(), status_of, cancelled)
        if isinstance(sent, Ending):
            log.warning("session %s with %s: recorded, but the Result did not reach the peer",
                        session.session_id[:8], session.peer)  # fmt: skip
    log.info(
        "session %s with %s completed: %d x %d keys, %d matched, %s",
        session.session_id[:8],
        session.peer,
        result.own_size,
        result.peer_size,
        result.intersection_size,
        "count only, no alerts" if summary is None else f"{summary.new_alerts} new alert(s)",
    )
    return Ending("OK", summary=summary, intersection=result.intersection_size)
