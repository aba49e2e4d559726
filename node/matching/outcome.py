"""Recording what a session ended with: the session row, alerts, audit entries -- one transaction each."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlite_utils import Database

from crypto import pair_handle
from matcher.psi import Mode, PsiResult
from node.alerts.book import MatchedKey, RecordSummary, record_matches
from node.core.clock import now_iso
from node.core.home import NodeHome
from node.matching.elements import KeyRow, SessionInput
from node.matching.epochs import KeptEpoch
from node.store import audit as audit
from node.store import open_database, transaction
from node.store.epochs import matched_elements, unsettled_matches
from node.store.key_changes import prune_key_changes
from node.store.sessions import SessionRecord, finish_session, record_refusal, start_session

__all__ = ["SessionFacts", "record_completed", "record_failed", "record_refused", "record_started"]


@dataclass(frozen=True)
class SessionFacts:
    session_id: str
    peer: str
    role: str
    mode: Mode
    key_types: tuple[str, ...]
    started_at: str
    day: str
    agency: str = ""
    kind: str = "full"  # full | delta


def _row(facts: SessionFacts, status: str, own: int, peer: int, hits: int, reason: str | None) -> SessionRecord:
    return SessionRecord(
        session_id=facts.session_id,
        peer=facts.peer,
        role=facts.role,
        mode=facts.mode.value,
        key_types=facts.key_types,
        status=status,
        own_size=own,
        peer_size=peer,
        intersection=hits,
        started_at=facts.started_at,
        finished_at=now_iso(),
        day=facts.day,
        reason=reason,
        kind=facts.kind,
    )


def record_started(db: Database, facts: SessionFacts, peer_size: int) -> None:
    """A running session counts against the daily quota from its first moment. Call inside a transaction."""
    start_session(db, _row(facts, "running", 0, peer_size, 0, None))


def _matched_keys(
    db: Database, facts: SessionFacts, session_input: SessionInput, result: PsiResult, kept: KeptEpoch | None
) -> tuple[list[MatchedKey] | None, frozenset[int] | None]:
    """The keys of ours to record, and the cases they are all of the matches of (None: every case).

    A delta records only the cases whose alerts no longer say what matches in the epoch (its result names
    only what changed); a full session of an epoch takes what matches from the epoch, any other session
    from its result (nothing in count-only mode)."""
    scope: frozenset[int] | None = None
    if kept is not None and kept.delta:
        scope, found = unsettled_matches(
            db, kept.row, facts.peer, kept.suite, facts.key_types, kept.since, kept.touched
        )
        rows = [KeyRow(*row) for row in found]
    elif kept is not None:
        in_epoch = matched_elements(db, kept.row)
        rows = [row for row in session_input.rows if row.element in in_epoch]
    elif result.matched is not None:
        rows = [session_input.rows[index] for index in sorted(result.matched)]
    else:
        return None, None
    # The handle names the key for this pair of agencies whatever either side's history.
    matched = [
        MatchedKey(row.case_id, row.key_type, row.tier, row.element, pair_handle(row.element, facts.agency, facts.peer))
        for row in rows
    ]
    return matched, scope


def record_completed(
    home: NodeHome,
    facts: SessionFacts,
    session_input: SessionInput,
    result: PsiResult,
    epoch: Callable[[Database], KeptEpoch | None] | None = None,
) -> RecordSummary | None:
    """Record a completed session and fold what matched into the alerts; ``epoch`` records the session's
    epoch in the same transaction and returns our elements matching in it."""
    db = open_database(home)
    at = now_iso()
    with transaction(db):
        finish_session(db, _row(facts, "completed", result.own_size, result.peer_size, result.intersection_size, None))
        summary = None
        matched, scope = _matched_keys(db, facts, session_input, result, None if epoch is None else epoch(db))
        if matched is not None:
            summary = record_matches(
                db,
                peer=facts.peer,
                session_id=facts.session_id,
                key_types=facts.key_types,
                matched=matched,
                at=at,
                scope=scope,
            )
        prune_key_changes(db)  # what every epoch and running session took in is no longer needed
        audit.append(
            db,
            "session.completed",
            at=at,
            peer=facts.peer,
            subject=f"session:{facts.session_id}",
            role=facts.role,
            mode=facts.mode.value,
            kind=facts.kind,
            key_types=list(facts.key_types),
            own_size=result.own_size,
            peer_size=result.peer_size,
            intersection=result.intersection_size,
            new_alerts=None if summary is None else summary.new_alerts,
            gone_alerts=None if summary is None else summary.gone_alerts,
        )
    return summary


def record_failed(
    home: NodeHome,
    facts: SessionFacts,
    own_size: int,
    peer_size: int,
    reason: str,
    code: str,
    misbehaved: bool = False,
) -> None:
    """A session that ended without a result; ``misbehaved``: the peer deviated from the exchange in a way
    that could let it learn (or deny us) a result, audited as ``session.misbehaved``."""
    db = open_database(home)
    with transaction(db):
        finish_session(db, _row(facts, "failed", own_size, peer_size, 0, reason))
        audit.append(
            db,
            "session.misbehaved" if misbehaved else "session.failed",
            at=now_iso(),
            peer=facts.peer,
            subject=f"session:{facts.session_id}",
            role=facts.role,
            status=code,
            reason=reason,
        )


def record_refused(
    home: NodeHome,
    *,
    peer: str | None,
    reason: str,
    code: str,
    facts: SessionFacts | None = None,
    announced: int = 0,
    key_types: Sequence[str] = (),
    caller: str | None = None,
) -> None:
    """A session refused before any work (not a peer, a policy or quota refusal, a malformed Open)."""
    db = open_database(home)
    with transaction(db):
        if facts is not None and peer is not None:
            record_refusal(db, _row(facts, "refused", 0, announced, 0, reason))
        audit.append(
            db,
            "session.refused",
            at=now_iso(),
            peer=peer,
            subject=None if facts is None else f"session:{facts.session_id}",
            status=code,
            reason=reason,
            announced=announced,
            key_types=list(key_types),
            caller=caller,
        )
