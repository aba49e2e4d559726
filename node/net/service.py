"""The Exchange servicer: thin handlers that identify the caller, check policy, and delegate.

Every refusal happens before any work on the caller's data, is answered with the status chosen by
:func:`node.errors.status_for`, and is written to the audit log. A failing session never affects another:
each call has its own session object and its own transactions.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
from collections.abc import AsyncIterator

import grpc

from crypto.suite import suite_by_name
from matcher.psi import Blinder, Message, Mode, PsiResult, PsiSession, Role, blind_in_process
from node.config.settings import Peer
from node.core.clock import now_iso, today_iso
from node.core.errors import (
    EXPECTED_ERRORS,
    FederationMismatch,
    NotAPeer,
    PeerIdle,
    PermissionRefused,
    QuotaExceeded,
)
from node.matching.driver import SESSION_IDLE_TIMEOUT_S, drive
from node.matching.elements import SessionInput, load_session_input
from node.matching.outcome import (
    SessionFacts,
    record_completed,
    record_failed,
    record_refused,
    record_started,
)
from node.net.disclosure_service import DisclosureRpcs
from node.net.peers import identify_caller
from node.net.status import status_for
from node.net.tls import ConfigWatch
from node.net.wire import decode, decode_open, encode
from node.store import open_database, transaction
from node.store.sessions import keys_received_today
from proto.casebridge.v1 import casebridge_pb2 as pb
from proto.casebridge.v1 import casebridge_pb2_grpc as pb_grpc

__all__ = ["ExchangeService"]

log = logging.getLogger("casebridge.server")

# Frames waiting to be written: enough to keep the stream busy, few enough to bound memory per session.
_QUEUE_FRAMES = 8


async def _decoded(frames: AsyncIterator[pb.PsiFrame]) -> AsyncIterator[Message]:
    async for frame in frames:
        yield decode(frame)


class ExchangeService(DisclosureRpcs, pb_grpc.ExchangeServicer):
    def __init__(
        self, watch: ConfigWatch, blinder: Blinder = blind_in_process, idle_timeout: float = SESSION_IDLE_TIMEOUT_S
    ) -> None:
        self.watch = watch
        self.home = watch.home
        # How sessions blind: in this process, or spread over a local process pool (serve --workers).
        self.blinder = blinder
        self.idle_timeout = idle_timeout

    async def Match(
        self,
        request_iterator: AsyncIterator[pb.PsiFrame],
        context: grpc.aio.ServicerContext,  # type: ignore[type-arg]
    ) -> AsyncIterator[pb.PsiFrame]:
        config = self.watch.get()
        try:
            peer = identify_caller(context, config)
        except NotAPeer as exc:
            await asyncio.to_thread(record_refused, self.home, peer=None, reason=str(exc), code="PERMISSION_DENIED")
            log.warning("refused a caller: %s", exc)
            await context.abort(status_for(exc), str(exc))
            return
        try:
            first = await asyncio.wait_for(anext(aiter(request_iterator)), self.idle_timeout)
        except StopAsyncIteration:
            return
        except TimeoutError:
            idle = PeerIdle(f"{peer.code} opened a call and sent nothing for {self.idle_timeout:.0f} s")
            await asyncio.to_thread(
                record_refused, self.home, peer=peer.code, reason=str(idle), code=status_for(idle).name
            )
            await context.abort(status_for(idle), str(idle))
            return
        facts: SessionFacts | None = None
        announced = 0
        key_types: tuple[str, ...] = ()
        try:
            opened, header = decode_open(first)
            announced, key_types = opened.set_size, header.key_types
            facts = SessionFacts(
                session_id=header.session_id.hex(),
                peer=peer.code,
                role=Role.RESPONDER.value,
                mode=opened.mode,
                key_types=header.key_types,
                started_at=now_iso(),
                day=today_iso(),
            )
            suite = suite_by_name(config.suite)
            expected = suite.federation_proof(self.home.read_federation_secret(), header.session_id)
            if not hmac.compare_digest(expected, header.federation_proof):
                raise FederationMismatch(
                    f"{peer.code} holds a different federation secret than we do, so no key could ever match; "
                    "both agencies must init with the same federation.secret"
                )
            await asyncio.to_thread(self._check_and_reserve, peer, facts, opened.set_size)
        except EXPECTED_ERRORS as exc:
            code = status_for(exc)
            await asyncio.to_thread(
                record_refused,
                self.home,
                peer=peer.code,
                reason=str(exc),
                code=code.name,
                facts=facts,
                announced=announced,
                key_types=key_types,
            )
            log.warning("refused a session from %s: %s", peer.code, exc)
            await context.abort(code, str(exc))
            return

        session_input = await asyncio.to_thread(self._load, suite.name, header.key_types)
        session = PsiSession(
            role=Role.RESPONDER,
            suite=suite,
            elements=session_input.elements,
            random_bytes=os.urandom,
            allowed_modes=frozenset(Mode),
            max_peer_set_size=opened.set_size,
            blinder=self.blinder,
        )
        outgoing: asyncio.Queue[pb.PsiFrame | None] = asyncio.Queue(maxsize=_QUEUE_FRAMES)

        async def run() -> PsiResult:
            try:
                await asyncio.to_thread(session.receive, opened)
                return await drive(
                    session,
                    send=lambda m: outgoing.put(encode(m)),
                    incoming=_decoded(request_iterator),
                    idle_timeout=self.idle_timeout,
                )
            finally:
                await outgoing.put(None)

        task = asyncio.ensure_future(run())
        try:
            while (frame := await outgoing.get()) is not None:
                yield frame
            result = await task
        except asyncio.CancelledError:
            # The initiator went away (or gave up on a policy of its own); nothing of the session is kept.
            task.cancel()
            await asyncio.to_thread(
                record_failed,
                self.home,
                facts,
                session.own_size,
                opened.set_size,
                "the peer cancelled the session",
                "CANCELLED",
            )
            raise
        except EXPECTED_ERRORS as exc:
            code = status_for(exc)
            await asyncio.to_thread(
                record_failed, self.home, facts, session.own_size, opened.set_size, str(exc), code.name
            )
            log.warning("session %s with %s failed: %s", facts.session_id[:8], peer.code, exc)
            await context.abort(code, str(exc))
            return
        except Exception as exc:  # a fault of ours: the peer hears only that, the log gets the kind
            await asyncio.to_thread(
                record_failed, self.home, facts, session.own_size, opened.set_size,
                f"internal error ({type(exc).__name__})", "INTERNAL",
            )  # fmt: skip
            log.error("session %s with %s failed inside this node: %s", facts.session_id[:8], peer.code,
                      type(exc).__name__)  # fmt: skip
            await context.abort(grpc.StatusCode.INTERNAL, "internal error")
            return
        finally:
            if not task.done():
                task.cancel()
        summary = await asyncio.to_thread(record_completed, self.home, facts, session_input, result)
        log.info(
            "session %s with %s completed: %d x %d keys, %d matched, %s",
            facts.session_id[:8],
            peer.code,
            result.own_size,
            result.peer_size,
            result.intersection_size,
            "count only, no alerts" if summary is None else f"{summary.new_alerts} new alert(s)",
        )

    def _check_and_reserve(self, peer: Peer, facts: SessionFacts, set_size: int) -> None:
        """Refuse what the peer's policy does not allow; otherwise count the session against today's quota.

        Check and reservation share one write transaction, so concurrent sessions cannot together exceed
        the quota.
        """
        key_types = facts.key_types
        policy = peer.policy
        excluded = [t for t in key_types if t not in policy.key_types]
        if excluded:
            raise PermissionRefused(
                f"{peer.code} may not match on key type(s) {', '.join(excluded)} here; "
                f"allowed: {', '.join(policy.key_types)}; align the two policies ('casebridge peers update')"
            )
        if set_size > policy.max_set_size:
            raise QuotaExceeded(
                f"{peer.code} announced {set_size} keys; its limit per session is {policy.max_set_size}"
            )
        db = open_database(self.home)
        with transaction(db):
            used = keys_received_today(db, peer.code, facts.day)
            if used + set_size > policy.daily_quota:
                raise QuotaExceeded(
                    f"{peer.code} has used {used} of its {policy.daily_quota} keys today; "
                    f"this session would need {set_size} more"
                )
            record_started(db, facts, set_size)

    def _load(self, suite: str, key_types: tuple[str, ...]) -> SessionInput:
        return load_session_input(open_database(self.home), suite, key_types)
