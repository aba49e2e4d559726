"""The agency's cases: import, list, close, reopen, delete.

Every change raises the case generation, which a serving node's scheduler watches. Every one is audited
with counts only, and close, reopen and delete with an opaque subject (``case:<row id>``): the audit log
never holds a case reference, an identifier or any identifier value.
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
    format_for,
    import_case_file,
    list_cases,
)
from node.core.errors import LocalError
from node.ops.context import Operations
from node.store import audit as audit
from node.store import cases as store_cases
from node.store import open_database, reading, unit_of_work
from node.store.schedule import CASES_GENERATION, bump_marker

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

    def record(db: Database, summary: ImportSummary) -> None:
        audit.append(db, "cases.imported", at=ops.now_iso(), actor=ops.actor, cases_added=summary.cases_added,
                     cases_updated=summary.cases_updated, identifiers=summary.identifiers, persons=summary.persons,
                     keys=summary.keys)  # fmt: skip
        if summary.cases_added or summary.cases_updated:
            bump_marker(db, CASES_GENERATION)  # a serving node's scheduler matches the change

    db = open_database(ops.home)
    try:
        return import_case_file(db, file, kind, suite=DEFAULT_SUITE, secret=secret, workers=workers,
                                progress=progress, within=record)  # fmt: skip
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


def _require_database(ops: Operations) -> None:
    if not ops.home.database.exists():
        raise LocalError(f"{ops.home.database}: no database yet; import cases first")


def _case(db: Database, case_ref: str) -> store_cases.CaseState:
    case = store_cases.case_state(db, case_ref)
    if case is None:
        raise LocalError(f"no case {case_ref!r} in this node; see 'casebridge cases list'")
    return case


def _set_status(ops: Operations, case_ref: str, status: str, event: str) -> bool:
    _require_database(ops)
    with unit_of_work(ops.home) as db:
        case = _case(db, case_ref)
        if case.status == status:
            return False
        at = ops.now_iso()
        store_cases.set_case_status(db, case.id, status, at)
        bump_marker(db, CASES_GENERATION)
        sizes = store_cases.case_sizes(db, case.id)
        audit.append(db, event, at=at, subject=f"case:{case.id}", actor=ops.actor, identifiers=sizes.identifiers,
                     persons=sizes.persons, keys=sizes.keys, alerts=sizes.alerts)  # fmt: skip
    return True


def close(ops: Operations, case_ref: str) -> bool:
    """Close a case so its keys stop taking part in matching. False if it was already closed. Audited."""
    return _set_status(ops, case_ref, "closed", "case.closed")


def reopen(ops: Operations, case_ref: str) -> bool:
    """Reopen a closed case: its keys take part in matching again. False if it was already open. Audited."""
    return _set_status(ops, case_ref, "open", "case.reopened")


def delete(ops: Operations, case_ref: str) -> DeletedCase:
    """Delete a case with its identifiers, persons, match keys and alerts. Audited with counts only.

    Its alerts go with it (an alert is about one of our cases and means nothing without it). Disclosure
    records stay -- they are the record of what was asked and released -- with their link to the deleted
    alert cleared; a pending incoming request about the case can then only be denied.
    """
    _require_database(ops)
    with unit_of_work(ops.home) as db:
        case = _case(db, case_ref)
        sizes = store_cases.case_sizes(db, case.id)
        store_cases.delete_case(db, case.id)
        bump_marker(db, CASES_GENERATION)
        audit.append(
            db,
            "case.deleted",
            at=ops.now_iso(),
            subject=f"case:{case.id}",
            actor=ops.actor,
            identifiers=sizes.identifiers,
            persons=sizes.persons,
            keys=sizes.keys,
            alerts=sizes.alerts,
        )
    return DeletedCase(case_ref, sizes.identifiers, sizes.persons, sizes.keys, sizes.alerts)
