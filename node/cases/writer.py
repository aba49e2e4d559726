"""Writing prepared cases and their elements in the caller's transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from sqlite_utils import Database

from node.cases.prepare import CaseRows
from node.core.clock import SYSTEM, Clock
from node.core.errors import LocalError
from node.store import cases as store
from node.store.cases import CaseUpdate, IdentifierRow, MatchKeyRow, NewCase, PersonRow

__all__ = ["ImportProgress", "write_cases"]

_BATCH = 2_000


class ImportProgress(Protocol):
    """Where an import reports its phases; the CLI draws a progress bar from it."""

    def phase(self, name: str, total: int) -> None: ...

    def advance(self, done: int) -> None: ...


def write_cases(
    db: Database,
    cases: list[CaseRows],
    key_types: Sequence[str],
    tiers: Sequence[str],
    element_batches: Iterable[list[bytes]],
    suite_name: str,
    report: ImportProgress,
    *,
    clock: Clock = SYSTEM,
) -> tuple[int, int]:
    """Insert or replace ``cases`` and their keys; returns (added, updated). Call inside a transaction.

    Row ids are assigned here rather than read back after each insert, so every table is written with
    one ``executemany`` per batch. That is safe because the caller holds the write lock (BEGIN IMMEDIATE).
    Elements may still be arriving from the hashing workers: the match keys are written as each batch of
    elements comes in, in key order.
    """
    if not db.conn.in_transaction:
        raise LocalError("write_cases must run inside a transaction")
    now = clock.now_iso()
    existing = store.case_ids_by_ref(db)
    ids = store.next_ids(db, ("cases", "identifiers", "persons"))
    store.delete_case_contents(db, [existing[c[0][1]] for c in cases if c[0][1] in existing])
    owners, added = _write_case_rows(db, cases, existing, ids, now, report)
    key_id = store.next_ids(db, ("match_keys",))["match_keys"]
    _write_keys(db, owners, key_types, tiers, element_batches, suite_name, key_id, report)
    return added, len(cases) - added


# (case_id, identifier_id, person_id) of one key, in key order, for when its element arrives.
_Owner = tuple[int, int | None, int | None]


def _write_case_rows(
    db: Database,
    cases: list[CaseRows],
    existing: dict[str, int],
    ids: dict[str, int],
    now: str,
    report: ImportProgress,
) -> tuple[list[_Owner], int]:
    """Cases, identifiers and persons in batches; returns each key's owners and how many cases are new."""
    case_id, ident_id, person_id = ids["cases"], ids["identifiers"], ids["persons"]
    owners: list[_Owner] = []
    added = 0
    report.phase("writing", len(cases))
    for start in range(0, len(cases), _BATCH):
        new_cases: list[NewCase] = []
        changed: list[CaseUpdate] = []
        ident_rows: list[IdentifierRow] = []
        person_rows: list[PersonRow] = []
        for (_line, ref, title, summary, contact, opened), idents, ident_counts, persons, person_counts in cases[
            start : start + _BATCH
        ]:
            cid = existing.get(ref)
            if cid is None:
                cid = case_id
                case_id += 1
                added += 1
                new_cases.append(NewCase(cid, ref, title, summary, contact, opened, now, now))
            else:
                changed.append(CaseUpdate(title, summary, contact, opened, now, cid))
            for position, (ident, n_keys) in enumerate(zip(idents, ident_counts, strict=True)):
                ident_rows.append(IdentifierRow(ident_id, cid, position, *ident))
                owners.extend([(cid, ident_id, None)] * n_keys)
                ident_id += 1
            for position, (person, n_keys) in enumerate(zip(persons, person_counts, strict=True)):
                person_rows.append(PersonRow(person_id, cid, position, *person))
                owners.extend([(cid, None, person_id)] * n_keys)
                person_id += 1
        store.insert_cases(db, new_cases)
        store.update_cases(db, changed)
        store.insert_identifiers(db, ident_rows)
        store.insert_persons(db, person_rows)
        report.advance(min(_BATCH, len(cases) - start))
    return owners, added


def _write_keys(
    db: Database,
    owners: list[_Owner],
    key_types: Sequence[str],
    tiers: Sequence[str],
    element_batches: Iterable[list[bytes]],
    suite_name: str,
    key_id: int,
    report: ImportProgress,
) -> None:
    """Match keys, written as each batch of elements comes in from the hashing workers."""
    report.phase("hashing", len(owners))
    at = 0
    for elements in element_batches:
        end = at + len(elements)
        if end > len(owners):
            raise LocalError("internal error: more elements than keys")
        store.insert_match_keys(
            db,
            (
                MatchKeyRow(key_id + i, *owners[i], key_types[i], tiers[i], element, suite_name)
                for i, element in enumerate(elements, start=at)
            ),
        )
        at = end
        report.advance(len(elements))
    if at != len(owners):
        raise LocalError("internal error: fewer elements than keys")
