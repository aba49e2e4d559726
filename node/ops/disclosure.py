"""The disclosure workflow: request, approve, deny, deliver, list, show.

Every step is recorded (and audited by the disclosure room) in its own transaction *before* it is sent, so a
peer that cannot be reached leaves the step recorded as not delivered; :func:`deliver` sends it again. A
request the owner refuses outright is closed as refused.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlite_utils import Database

from node.core.errors import LocalError, PeerFailed
from node.disclosure import (
    Disclosure,
    build_release,
    denial_for,
    get_disclosure,
    list_disclosures,
    mark_delivery,
    prepare_request,
    record_approval,
    record_denial,
    record_outgoing,
    record_owner_refusal,
    stored_decision,
    stored_request,
)
from node.net.disclosure_client import deliver_decision, deliver_denial, deliver_release, find_peer, seal_release
from node.net.disclosure_client import send_request as send_request_rpc
from node.ops.context import Operations
from node.store import reading, unit_of_work

# Run inside the transaction that records a step, with the disclosure's id (a four-eyes approval uses it to
# close its proposal in the same commit).
AlsoRecord = Callable[[Database, int], None]

__all__ = ["Sent", "approve", "deliver", "deny", "list_all", "request", "show"]

_R = TypeVar("_R")


@dataclass(frozen=True)
class Sent:
    """A step that reached the other agency."""

    disclosure: Disclosure  # as recorded after delivery
    peer: str
    duplicate: bool = False  # the other node already had it


def _deliver(
    ops: Operations, disclosure_id: int, peer: str, call: Coroutine[Any, Any, _R], *, refusable: bool = False
) -> _R:
    """Send a step that is already recorded, and record whether it arrived."""
    try:
        reply = asyncio.run(call)
    except PeerFailed as exc:
        refused = refusable and not exc.transient
        with unit_of_work(ops.home) as db:
            if refused:
                record_owner_refusal(db, disclosure_id, str(exc), ops.now_iso())
            else:
                mark_delivery(db, disclosure_id, ops.now_iso(), error=str(exc))
        if refused:
            raise LocalError(f"disclosure {disclosure_id}: refused: {exc}") from None
        raise LocalError(
            f"disclosure {disclosure_id} is recorded but did not reach {peer}: {exc}. "
            f"Send it again with 'casebridge disclose deliver {disclosure_id}' once {peer} is reachable"
        ) from None
    with unit_of_work(ops.home) as db:
        mark_delivery(db, disclosure_id, ops.now_iso())
    return reply


def _sent(ops: Operations, disclosure_id: int, peer: str, *, duplicate: bool = False) -> Sent:
    return Sent(show(ops, disclosure_id), peer, duplicate)


def request(
    ops: Operations, alert_id: int, purpose: str, legal_basis: str, handling: str, *, also: AlsoRecord | None = None
) -> Sent:
    """Ask the agency an alert matched for the details of its case (only the match handle is sent)."""
    config = ops.config()
    with unit_of_work(ops.home) as db:
        prepared = prepare_request(db, alert_id, purpose, legal_basis, handling)
        peer = find_peer(config, prepared.peer)
        disclosure_id = record_outgoing(db, prepared, ops.now_iso(), actor=ops.actor)
        if also is not None:
            also(db, disclosure_id)
    ack = _deliver(ops, disclosure_id, peer.code, send_request_rpc(ops.home, peer, prepared.to_wire()), refusable=True)
    return _sent(ops, disclosure_id, peer.code, duplicate=bool(ack.duplicate))


def approve(ops: Operations, disclosure_id: int, fields: list[str], *, also: AlsoRecord | None = None) -> Sent:
    """Release exactly ``fields`` of our matched case, signed by this node; recorded and audited first."""
    config = ops.config()
    with unit_of_work(ops.home) as db:
        release = build_release(db, disclosure_id, fields, our_agency=config.agency, now=ops.clock.now())
        peer = find_peer(config, release.requester_agency)
        signed = seal_release(ops.home, release)
        record_approval(db, disclosure_id, release, signed.release, signed.signature, ops.now_iso(), actor=ops.actor)
        if also is not None:
            also(db, disclosure_id)
    _deliver(ops, disclosure_id, peer.code, deliver_release(ops.home, peer, signed))
    return _sent(ops, disclosure_id, peer.code)


def deny(ops: Operations, disclosure_id: int, reason: str) -> Sent:
    """Refuse a request and tell the requester why."""
    config = ops.config()
    with unit_of_work(ops.home) as db:
        denial = denial_for(db, disclosure_id, reason)
        peer = find_peer(config, get_disclosure(db, disclosure_id).peer)
        record_denial(db, disclosure_id, reason, ops.now_iso(), actor=ops.actor)
    _deliver(ops, disclosure_id, peer.code, deliver_denial(ops.home, peer, denial))
    return _sent(ops, disclosure_id, peer.code)


def deliver(ops: Operations, disclosure_id: int) -> Sent:
    """Send again a request, release or denial that did not reach the other agency (twice is safe)."""
    config = ops.config()
    call: Coroutine[Any, Any, object]
    with reading(ops.home) as db:
        d = get_disclosure(db, disclosure_id)
        if d.delivered:
            raise LocalError(f"disclosure {disclosure_id} has nothing waiting to be delivered")
        peer = find_peer(config, d.peer)
        if d.direction == "outgoing":
            call = send_request_rpc(ops.home, peer, stored_request(db, disclosure_id).to_wire())
        else:
            call = deliver_decision(ops.home, peer, stored_decision(db, disclosure_id))
    _deliver(ops, disclosure_id, peer.code, call, refusable=d.direction == "outgoing")
    return _sent(ops, disclosure_id, peer.code)


def list_all(ops: Operations, direction: str | None = None, status: str | None = None) -> list[Disclosure]:
    with reading(ops.home) as db:
        return list_disclosures(db, direction, status)


def show(ops: Operations, disclosure_id: int) -> Disclosure:
    with reading(ops.home) as db:
        return get_disclosure(db, disclosure_id)
