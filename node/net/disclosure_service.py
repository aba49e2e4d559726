"""The disclosure RPCs: thin handlers over :mod:`node.disclosure`.

The calling agency comes from its certificate (never from a field); every refusal is audited and answered
with the status :func:`node.errors.status_for` picks.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import grpc

from crypto.certificates import load_certificate
from node.config.settings import ConfigError, Peer
from node.core.clock import now_iso
from node.core.errors import EXPECTED_ERRORS
from node.core.home import NodeHome
from node.disclosure import accept_denial, accept_release, accept_request
from node.matching.steps import where
from node.net.peers import identify_caller
from node.net.status import peer_detail, status_for
from node.net.tls import ConfigWatch
from node.store import audit as audit
from node.store import open_database, transaction
from proto.casebridge.v1 import casebridge_pb2 as pb

__all__ = ["DisclosureRpcs"]

log = logging.getLogger("casebridge.server")
_T = TypeVar("_T")

Context = grpc.aio.ServicerContext[Any, Any]


def _refused(home: NodeHome, event: str, peer: str | None, exc: Exception) -> None:
    db = open_database(home)
    with transaction(db):
        audit.append(db, event, at=now_iso(), peer=peer, status=status_for(exc).name, reason=_reason(exc))


def _reason(exc: Exception) -> str:
    return str(exc) if isinstance(exc, EXPECTED_ERRORS) else f"internal error ({type(exc).__name__})"


async def _refuse_safely(home: NodeHome, event: str, peer: str | None, exc: Exception) -> None:
    if isinstance(exc, EXPECTED_ERRORS):
        log.warning("refused a disclosure call from %s: %s", peer or "an unknown caller", exc)
    else:
        log.error("a disclosure call from %s failed inside this node: %s", peer or "an unknown caller", where(exc))
    try:
        await asyncio.to_thread(_refused, home, event, peer, exc)
    except Exception as failure:  # the store itself may be what failed; the log has it
        log.error("could not audit %s: %s", event, failure)


class DisclosureRpcs:
    """Mixed into the Exchange servicer, which provides ``watch`` and ``home``."""

    watch: ConfigWatch
    home: NodeHome

    async def _handle(self, context: Context, event: str, work: Callable[[Peer], _T]) -> _T:
        peer_code: str | None = None
        try:
            peer = identify_caller(context, self.watch.get())
            peer_code = peer.code
            return await asyncio.to_thread(work, peer)
        except ConfigError:
            # The watch logged and audited the broken file once; the peer learns only to retry.
            await context.abort(grpc.StatusCode.UNAVAILABLE, "the node cannot serve right now; try again later")
        except Exception as exc:
            await _refuse_safely(self.home, event, peer_code, exc)
            # The peer reads its own faults; ours (a store fault, a bug) only as the generic detail.
            await context.abort(status_for(exc), peer_detail(exc))
        raise AssertionError("abort returned")

    async def RequestDisclosure(self, request: pb.DisclosureRequest, context: Context) -> pb.DisclosureAck:
        def work(peer: Peer) -> pb.DisclosureAck:
            db = open_database(self.home)
            with transaction(db):
                _, duplicate = accept_request(db, peer=peer.code, request=request, at=now_iso())
            return pb.DisclosureAck(request_id=request.request_id, duplicate=duplicate)

        return await self._handle(context, "disclosure.request-refused", work)

    async def DeliverRelease(self, request: pb.SignedRelease, context: Context) -> pb.ReleaseAck:
        our_agency = self.watch.get().agency

        def work(peer: Peer) -> pb.ReleaseAck:
            certificate = load_certificate(peer.certificate.read_bytes())
            db = open_database(self.home)
            with transaction(db):
                disclosure = accept_release(
                    db,
                    peer=peer.code,
                    peer_certificate=certificate,
                    our_agency=our_agency,
                    signed=request,
                    at=now_iso(),
                )
            return pb.ReleaseAck(request_id=disclosure.request_id)

        return await self._handle(context, "disclosure.release-refused", work)

    async def DeliverDenial(self, request: pb.Denial, context: Context) -> pb.DenialAck:
        def work(peer: Peer) -> pb.DenialAck:
            db = open_database(self.home)
            with transaction(db):
                disclosure = accept_denial(db, peer=peer.code, denial=request, at=now_iso())
            return pb.DenialAck(request_id=disclosure.request_id)

        return await self._handle(context, "disclosure.denial-refused", work)
