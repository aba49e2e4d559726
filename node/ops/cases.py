"""The agency's cases: import, list, close, reopen, delete.

Reopen and delete are audited with an opaque subject (``case:<row id>``) and counts only: the audit log
never holds a case reference's identifiers or any identifier value.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlite_utils import Database

from crypto import DEFAULT_SUITE
from node.cases import (
    CaseRow,
    ImportProgress,
    ImportSummary,
    StatusFilter,
    close_case,
    format_for,
    import_case_file,
    list_cases,
)
from node.core.errors import LocalError
from node.ops.context import Operations
from node.store import audit as audit
from node.store import open_database, reading, unit_of_work

__all__ = ["DeletedCase", "close", "delete", "import_file", "import_line", "list_all", "reopen"]


@dataclass(frozen=True)
class DeletedCase:
    """What went with a deleted case."""

    case_ref: str
    identifiers: int
    persons: int
    keys: int
    alerts: int


def import_file(
    ops: Operations,
    file: Path,
    fmt: str | None = None,
    *,
    workers: int | None = None,
    progress: ImportProgress | None = None,
) -> ImportSummary:
    """Import every case of ``file`` or none of them (see :func:`node.cases.import_case_file`)."""
    kind = format_for(file, fmt)
    secret = ops.home.read_federation_secret()
    db = open_database(ops.home)
    try:
        return import_case_file(db, file, kind, suite=DEFAULT_SUITE, secret=secret, workers=workers, progress=progress)
    finally:
        db.close()


def import_line(name: str, summary: ImportSummary) -> str:
    """The one-line summary every front end prints after an import (counts only, never values)."""
    return (
        f"{name}: {summary.cases_added} case(s) added, {summary.cases_updated} updated; "
        f"{summary.identifiers} identifier(s), {summary.persons} person(s), {summary.keys} key(s) "
        f"in {summary.seconds:.1f} s"
    )


def list_all(ops: Operations, status: StatusFilter = "all") -> list[CaseRow]:
    """The cases with their counts; none before the first import (no database is created to say so)."""
    if not ops.home.database.exists():
        return []
    with reading(ops.home) as db:
        return list_cases(db, status)


def close(ops: Operations, case_ref: str) -> bool:
    """Close a case so its keys stop taking part in matching; False if it was already closed."""
    db = open_database(ops.home, create=False)
    try:
        return close_case(db, case_ref)
    finally:
        db.close()


def _case_id(db: Database, case_ref: str) -> tuple[int, str]:
    row = db.conn.execute("SELECT id, status FROM cases WHERE case_ref = ?", (case_ref,)).fetchone()
    if row is None:
        raise LocalError(f"no case {case_ref!r} in this node; see 'casebridge cases list'")
    return int(row[0]), str(row[1])


def reopen(ops: Operations, case_ref: str) -> bool:
    """Reopen a closed case: its keys take part in matching again. False if it was already open. Audited."""
    if not ops.home.database.exists():
        raise LocalError(f"{ops.home.database}: no database yet; import cases first")
    with unit_of_work(ops.home) as db:
        case_id, status = _case_id(db, case_ref)
        if status == "open":
            return False
        at = ops.now_iso()
        db.conn.execute("UPDATE cases SET status = 'open', updated_at = ? WHERE id = ?", (at, case_id))
        audit.append(db, "case.reopened", at=at, subject=f"case:{case_id}", actor=ops.actor)
    return True


def _count(db: Database, table: str, case_id: int) -> int:
    # table is one of our own names below, never input
    return int(db.conn.execute(f"SELECT COUNT(*) FROM {table} WHERE case_id = ?", (case_id,)).fetchone()[0])  # noqa: S608


def delete(ops: Operations, case_ref: str) -> DeletedCase:
    """Delete a case with its identifiers, persons, match keys and alerts. Audited with counts only.

    Its alerts go with it (an alert is about one of our cases and means nothing without it). Disclosure
    records stay -- they are the record of what was asked and released -- with their link to the deleted
    alert cleared; a pending incoming request about the case can then only be denied.
    """
    if not ops.home.database.exists():
        raise LocalError(f"{ops.home.database}: no database yet; import cases first")
    with unit_of_work(ops.home) as db:
        case_id, _status = _case_id(db, case_ref)
        gone = DeletedCase(
            case_ref,
            identifiers=_count(db, "identifiers", case_id),
            persons=_count(db, "persons", case_id),
            keys=_count(db, "match_keys", case_id),
            alerts=_count(db, "alerts", case_id),
        )
        # Identifiers, persons, keys, alerts and their keys follow through ON DELETE CASCADE.
        db.conn.execute("DELETE FROM cases WHERE id = ?", (case_id,))
        audit.append(
            db,
            "case.deleted",
            at=ops.now_iso(),
            subject=f"case:{case_id}",
            actor=ops.actor,
            identifiers=gone.identifiers,
            persons=gone.persons,
            keys=gone.keys,
            alerts=gone.alerts,
        )
    return gone
