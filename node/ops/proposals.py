"""Four eyes: a disclosure request or release one console user prepares and another approves.

With ``[disclosure] four_eyes = true`` (the default) nothing leaves the node from the console on one
person's word: a request for details and a release are first *prepared* (recorded, audited, not sent);
an approver who is not the preparer then approves it, which records and sends the disclosure step in the
same transaction that closes the proposal, or rejects it with a reason. Analysts may prepare but never
approve; admins manage users and decide nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database

from node.core.errors import LocalError
from node.disclosure import RELEASABLE_FIELDS, build_release
from node.disclosure import prepare_request as check_request
from node.disclosure.model import checked_text
from node.ops import disclosure as ops_disclosure
from node.ops.context import Operations
from node.store import audit, reading, unit_of_work
from node.store import console as store
from node.store.console import ProposalRecord

__all__ = [
    "DECIDING_ROLES",
    "Proposal",
    "approve",
    "check_role",
    "list_all",
    "prepare_release",
    "prepare_request",
    "reject",
    "show",
]

DECIDING_ROLES = ("approver",)


@dataclass(frozen=True)
class Proposal:
    id: int
    kind: str  # request | release
    alert_id: int | None
    disclosure_id: int | None
    detail: dict[str, Any]
    status: str  # waiting | approved | rejected
    prepared_by: str
    prepared_at: str
    decided_by: str | None
    decided_at: str | None
    disclosure_made: int | None

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _proposal(row: ProposalRecord) -> Proposal:
    return Proposal(**row.__dict__)


def check_role(role: str, allowed: tuple[str, ...], what: str) -> None:
    """Refuse ``what`` to a user whose role is not in ``allowed`` (checked on every action, server-side)."""
    if role not in allowed:
        raise LocalError(f"a user with the role {role!r} cannot {what}")


def prepare_request(ops: Operations, alert_id: int, purpose: str, legal_basis: str, handling: str) -> Proposal:
    """Record a request for details, checked as if it were sent, for an approver to send."""
    with unit_of_work(ops.home) as db:
        prepared = check_request(db, alert_id, purpose, legal_basis, handling)
        _no_waiting(db, alert_id=alert_id)
        at = ops.now_iso()
        detail = {"purpose": prepared.purpose, "legal_basis": prepared.legal_basis, "handling": prepared.handling}
        proposal_id = store.insert_proposal(
            db, kind="request", alert_id=alert_id, disclosure_id=None, detail=detail, prepared_by=ops.actor, at=at
        )
        audit.append(
            db, "proposal.prepared", at=at, peer=prepared.peer, subject=f"proposal:{proposal_id}", kind="request",
            alert=alert_id, handling=prepared.handling, actor=ops.actor,
        )  # fmt: skip
        return _get(db, proposal_id)


def prepare_release(ops: Operations, disclosure_id: int, fields: list[str]) -> Proposal:
    """Record which fields of our case to release for a pending request, for an approver to release."""
    config = ops.config()
    with unit_of_work(ops.home) as db:
        release = build_release(db, disclosure_id, fields, our_agency=config.agency, now=ops.clock.now())
        _no_waiting(db, disclosure_id=disclosure_id)
        at = ops.now_iso()
        chosen = [f for f in RELEASABLE_FIELDS if f in release.fields]
        proposal_id = store.insert_proposal(
            db, kind="release", alert_id=None, disclosure_id=disclosure_id, detail={"fields": chosen},
            prepared_by=ops.actor, at=at,
        )  # fmt: skip
        audit.append(
            db, "proposal.prepared", at=at, peer=release.requester_agency, subject=f"proposal:{proposal_id}",
            kind="release", disclosure=disclosure_id, fields=chosen, actor=ops.actor,
        )  # fmt: skip
        return _get(db, proposal_id)


def _no_waiting(db: Database, *, alert_id: int | None = None, disclosure_id: int | None = None) -> None:
    waiting = store.proposals(db, status="waiting", alert_id=alert_id, disclosure_id=disclosure_id)
    if waiting:
        raise LocalError(f"proposal {waiting[0].id} for this is already waiting for an approver")


def _get(db: Database, proposal_id: int) -> Proposal:
    row = store.proposal(db, proposal_id)
    if row is None:
        raise LocalError(f"no proposal {proposal_id}")
    return _proposal(row)


def _waiting(ops: Operations, proposal_id: int) -> Proposal:
    with reading(ops.home) as db:
        proposal = _get(db, proposal_id)
    if proposal.status != "waiting":
        raise LocalError(f"proposal {proposal_id} was already {proposal.status}")
    if proposal.prepared_by == ops.actor:
        raise LocalError(f"proposal {proposal_id}: four eyes: the user who prepared it cannot approve or reject it")
    return proposal


def approve(ops: Operations, proposal_id: int) -> ops_disclosure.Sent:
    """Send the prepared request, or release the prepared fields, as ``ops.actor`` (never its preparer)."""
    proposal = _waiting(ops, proposal_id)

    def close(db: Database, disclosure_id: int) -> None:
        # In the transaction that records the disclosure step: the proposal cannot be approved twice.
        current = store.proposal(db, proposal_id)
        if current is None or current.status != "waiting":
            raise LocalError(f"proposal {proposal_id} was decided meanwhile")
        at = ops.now_iso()
        store.set_proposal_decision(db, proposal_id, "approved", ops.actor, at, disclosure_made=disclosure_id)
        audit.append(
            db, "proposal.approved", at=at, subject=f"proposal:{proposal_id}", kind=proposal.kind,
            disclosure=disclosure_id, prepared_by=proposal.prepared_by, actor=ops.actor,
        )  # fmt: skip

    detail = proposal.detail
    if proposal.kind == "request":
        assert proposal.alert_id is not None
        return ops_disclosure.request(
            ops, proposal.alert_id, detail["purpose"], detail["legal_basis"], detail["handling"], also=close
        )
    assert proposal.disclosure_id is not None
    return ops_disclosure.approve(ops, proposal.disclosure_id, list(detail["fields"]), also=close)


def reject(ops: Operations, proposal_id: int, reason: str) -> Proposal:
    """Send a prepared step back without doing it; the reason is kept with the proposal."""
    _waiting(ops, proposal_id)
    reason = checked_text(reason, "reason", LocalError)
    with unit_of_work(ops.home) as db:
        current = _get(db, proposal_id)
        if current.status != "waiting":
            raise LocalError(f"proposal {proposal_id} was already {current.status}")
        at = ops.now_iso()
        store.set_proposal_decision(db, proposal_id, "rejected", ops.actor, at, reason=reason)
        audit.append(
            db, "proposal.rejected", at=at, subject=f"proposal:{proposal_id}", kind=current.kind,
            prepared_by=current.prepared_by, actor=ops.actor,
        )  # fmt: skip
        return _get(db, proposal_id)


def show(ops: Operations, proposal_id: int) -> Proposal:
    with reading(ops.home) as db:
        return _get(db, proposal_id)


def list_all(
    ops: Operations, *, status: str | None = None, alert_id: int | None = None, disclosure_id: int | None = None
) -> list[Proposal]:
    with reading(ops.home) as db:
        rows = store.proposals(db, status=status, alert_id=alert_id, disclosure_id=disclosure_id)
    return [_proposal(row) for row in rows]
