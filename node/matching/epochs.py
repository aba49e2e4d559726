"""Key epochs with each peer, as this node keeps them: which kind of session a round runs, and what a
completed one leaves in the store.

An epoch (:mod:`matcher.psi.epoch`) opens with a full session and lets the sessions after it carry only
what changed. This node keeps one per peer and role, and ends it -- destroying its scalar, our elements in it
and the peer's tags -- when it passes ``[policy] epoch`` days, when anything it is bound to changes (our
certificate, the peer's pinned one, the federation secret, the suite, the peer's policy), when it has no
room left, or when the peer says it no longer keeps its side (:class:`~matcher.psi.EpochEnded`). The next
round then opens a new epoch with fresh scalars.

Our scalar is kept sealed under ``<home>/epoch.key`` (:mod:`node.core.sealing`), bound to the peer, the role
and the epoch id.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlite_utils import Database

from crypto import BlindingKey
from crypto.certificates import fingerprint, load_certificate
from crypto.suite import suite_by_name
from matcher.psi import EpochEnded, Mode, Open, Role
from matcher.psi.epoch import EPOCH_ID_LENGTH, EpochSession, InitiatorChanges, ResponderChanges
from node.config.settings import NodeConfig, Peer
from node.core.clock import now, now_iso
from node.core.errors import LocalError
from node.core.home import NodeHome
from node.core.sealing import seal, sealing_key, unseal
from node.matching.attempts import Attempt, discard_attempt, take_attempt
from node.matching.elements import OurKeys
from node.store import epochs as store
from node.store import open_database, transaction
from node.store.epochs import EpochRow

log = logging.getLogger("casebridge.session")

__all__ = [
    "EpochPlan", "KeptEpoch", "binding", "end_epoch_of", "initiator_plan", "keeper", "merge_epoch", "responder_plan",
    "with_attempt",
]  # fmt: skip


@dataclass(frozen=True)
class KeptEpoch:
    """What a completed session left of its epoch: the epoch as recorded now, whether the session was a
    delta of it, the suite its elements are of, and, for a delta, the last key change the epoch had taken
    in before it (None: unknown) and our elements whose match it changed."""

    row: EpochRow
    delta: bool
    suite: str
    since: int | None = None
    touched: frozenset[bytes] = frozenset()


@dataclass(frozen=True)
class EpochPlan:
    """How one session runs: outside any epoch (``epoch_id`` empty), as the full session opening an epoch
    (``row`` None), or as a delta of the epoch ``row`` sending ``elements`` and withdrawing ``removed``."""

    epoch_id: bytes = b""
    key: BlindingKey | None = None
    row: EpochRow | None = None
    elements: tuple[bytes, ...] = ()
    removed: tuple[bytes, ...] = ()
    keep: bool = False
    binding: str = ""
    ends_at: str = ""
    attempt: Attempt | None = None  # a full session's: what a retry of it takes up (node.matching.attempts)

    @property
    def kind(self) -> str:
        return "full" if self.row is None else "delta"

    @property
    def in_epoch(self) -> bool:
        return bool(self.epoch_id)


def binding(home: NodeHome, config: NodeConfig, peer: Peer) -> str:
    """What an epoch with ``peer`` is bound to, as a digest: a change of any part ends the epoch."""
    material = {
        "own_certificate": fingerprint(load_certificate(home.tls_cert.read_bytes())),
        "peer_certificate": peer.fingerprint,
        "federation_secret": hashlib.sha256(home.read_federation_secret()).hexdigest(),
        "suite": config.suite,
        "policy": dataclasses.asdict(peer.policy),
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True, default=list).encode()).hexdigest()


def _bound_to(peer: str, role: str, epoch_id: bytes) -> bytes:
    return f"casebridge epoch scalar|{peer}|{role}|{epoch_id.hex()}".encode()


def _ends_at(peer: Peer) -> str:
    days = peer.policy.epoch_days or 0
    return (now() + timedelta(days=days)).isoformat(timespec="seconds")


def _stale(row: EpochRow, bound: str, key_types: tuple[str, ...]) -> str | None:
    """Why ``row`` can no longer be continued, or None."""
    if row.binding != bound:
        return "a certificate, the federation secret or the policy changed"
    if tuple(row.key_types) != tuple(key_types):
        return "the session's key types changed"
    if now_iso() >= row.ends_at:
        return "the epoch ran its time"
    return None


def _fresh(home: NodeHome, config: NodeConfig, peer: Peer, elements: tuple[bytes, ...], keep: bool) -> EpochPlan:
    """A full session opening an epoch (kept when ``keep``), with a fresh epoch id and scalar; see
    :func:`with_attempt` for the scalar of an interrupted one."""
    return EpochPlan(
        epoch_id=os.urandom(EPOCH_ID_LENGTH), key=BlindingKey.generate(os.urandom), elements=elements, keep=keep,
        binding=binding(home, config, peer) if keep else "", ends_at=_ends_at(peer),
    )  # fmt: skip


def with_attempt(
    home: NodeHome, config: NodeConfig, peer: Peer, role: Role, plan: EpochPlan, key_types: tuple[str, ...]
) -> EpochPlan:  # fmt: skip
    """``plan``, when it is a kept epoch's full session, with the attempt an interrupted one left taken up
    (its scalar and its work) or a new one begun. Call outside any transaction: a large attempt takes a
    moment to read. The attempt is bound to the session's key types as well as the epoch's binding:
    attempts over other key types share no element, and would give away the canaries they shared."""
    if not plan.in_epoch or not plan.keep or plan.row is not None:
        return plan
    width = suite_by_name(config.suite).element_length
    bound = f"{plan.binding}|{','.join(key_types)}"
    attempt = take_attempt(home, peer.code, role.value, bound, peer.policy.epoch_days or 0, width)
    if attempt is None:
        return plan
    return dataclasses.replace(plan, key=attempt.key, ends_at=attempt.ends_at, attempt=attempt)


def _delta(home: NodeHome, row: EpochRow, keys: OurKeys, bound: str) -> EpochPlan | str:
    """The delta continuing ``row``, or why it cannot continue."""
    sealing = sealing_key(home)
    try:
        scalar = unseal(sealing, row.sealed_key, _bound_to(row.peer, row.role, row.terms.epoch_id))
    except LocalError:
        return "this node's epoch key does not open the epoch's scalar (restored without it?)"
    added, removed = keys.changes(row)
    return EpochPlan(
        epoch_id=row.terms.epoch_id, key=BlindingKey(scalar), row=row, elements=added, removed=removed,
        keep=True, binding=bound, ends_at=row.ends_at,
    )  # fmt: skip


def initiator_plan(
    home: NodeHome, db: Database, config: NodeConfig, peer: Peer, mode: Mode, key_types: tuple[str, ...],
    keys: OurKeys,
) -> EpochPlan:  # fmt: skip
    """The session we open with ``peer``: a delta of our epoch when it is still good, else a full session
    that opens a new one (or, when the policy keeps no epochs, a session outside any). Call inside a
    transaction: an epoch that can no longer be continued ends here."""
    at = now_iso()
    if mode is not Mode.MUTUAL or peer.policy.epoch_days is None:
        if peer.policy.epoch_days is None:
            discard_attempt(home, peer.code, Role.INITIATOR.value)
        store.end_open_epochs(db, peer.code, "initiator", "the policy keeps no epochs with the peer", at)
        return EpochPlan(elements=keys.elements())
    bound = binding(home, config, peer)
    row = store.current_epoch(db, peer.code, "initiator")
    if row is not None:
        why = _stale(row, bound, key_types)
        plan = _delta(home, row, keys, bound) if why is None else why
        if isinstance(plan, EpochPlan) and row.next_position + len(plan.elements) <= row.terms.initiator_capacity:
            return plan
        store.end_epoch(db, row.id, plan if isinstance(plan, str) else "the epoch has no room for the new keys", at)
    return _fresh(home, config, peer, keys.elements(), keep=True)


def responder_plan(
    home: NodeHome, db: Database, config: NodeConfig, peer: Peer, opened: Open, key_types: tuple[str, ...],
    keys: OurKeys,
) -> EpochPlan | EpochEnded:  # fmt: skip
    """How we answer the session ``opened`` begins; a delta of an epoch we do not keep (or can no longer
    continue) gets :class:`~matcher.psi.EpochEnded`, to raise once the transaction (which may have ended
    our epoch) committed. Call inside a transaction."""
    if not opened.epoch_id:
        return EpochPlan(elements=keys.elements())
    keep = opened.mode is Mode.MUTUAL and peer.policy.epoch_days is not None
    if peer.policy.epoch_days is None:
        discard_attempt(home, peer.code, Role.RESPONDER.value)
    if not opened.delta:
        fresh = _fresh(home, config, peer, keys.elements(), keep)
        return dataclasses.replace(fresh, epoch_id=opened.epoch_id)
    row = store.current_epoch(db, peer.code, "responder")
    if row is None or row.terms.epoch_id != opened.epoch_id or not keep:
        return EpochEnded("this node keeps no such epoch with the peer; a full session starts anew")
    bound = binding(home, config, peer)
    why = _stale(row, bound, key_types)
    plan = _delta(home, row, keys, bound) if why is None else why
    if isinstance(plan, str) or row.own_total + len(plan.elements) > row.terms.responder_capacity:
        store.end_epoch(
            db, row.id, plan if isinstance(plan, str) else "the epoch has no room for our new keys", now_iso()
        )
        return EpochEnded("this node ended the epoch; a full session starts anew")
    return plan


def end_epoch_of(home: NodeHome, row: EpochRow, reason: str) -> None:
    """End the epoch ``row`` (when it is still open) and destroy its material."""
    db = open_database(home)
    with transaction(db):
        current = store.current_epoch(db, row.peer, row.role)
        if current is not None and current.id == row.id:
            store.end_epoch(db, row.id, reason, now_iso())


def merge_epoch(home: NodeHome, peer: str, role: Role) -> None:
    """After a session of the epoch with ``peer``: merge its level 1 into level 0 when that is due
    (:func:`node.store.epochs.merge_levels`), in a transaction of its own, so that neither the session's
    recording nor the peer waits for it."""
    db = open_database(home)
    with transaction(db):
        row = store.current_epoch(db, peer, role.value)
        if row is not None and store.merge_levels(db, row.id):
            log.info("merged the newer keys of the epoch with %s (%s) into its main level", peer, role.value)


def keeper(
    home: NodeHome,
    peer: str,
    role: Role,
    key_types: tuple[str, ...],
    plan: EpochPlan,
    session: EpochSession,
    opened: Open | None,
    generation: int,
    changes_mark: int,
) -> Callable[[Database], KeptEpoch | None]:
    """What records a completed session's epoch, inside the transaction recording the session: it opens
    the epoch (a full session the peer agreed to keep), applies the session's changes, and returns the
    epoch as it stands now (None: the session kept no epoch; its result says what matched).
    ``opened``: the peer's Open, when we are the responder; ``generation``: the case generation our
    elements were loaded at; ``changes_mark``: the last key change they took in."""

    def keep(db: Database) -> KeptEpoch | None:
        if not plan.in_epoch or not session.kept or session.changes is None:
            return None
        row = plan.row
        row_id = row.id if row is not None else _open(db)
        changes = session.changes
        if isinstance(changes, InitiatorChanges):
            store.apply_initiator(db, row_id, changes, generation, changes_mark)
        elif isinstance(changes, ResponderChanges) and opened is not None:
            store.apply_responder(db, row_id, changes, opened.set_size, generation, changes_mark)
        current = store.current_epoch(db, peer, role.value)
        assert current is not None and current.id == row_id
        if row is None:
            return KeptEpoch(current, delta=False, suite=session.suite.name)
        touched = changes.matched_elements | changes.unmatched_elements
        return KeptEpoch(current, delta=True, suite=session.suite.name, since=row.changes_seen, touched=touched)

    def _open(db: Database) -> int:
        assert plan.key is not None and session.terms is not None
        sealed = seal(sealing_key(home), plan.key.secret_bytes(), _bound_to(peer, role.value, plan.epoch_id))
        return store.open_epoch(
            db, peer=peer, role=role.value, terms=session.terms, key_types=key_types,
            binding=plan.binding, sealed_key=sealed, peer_key=b"" if opened is None else opened.public_key,
            started_at=now_iso(), ends_at=plan.ends_at,
        )  # fmt: skip

    return keep
