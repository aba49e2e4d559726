"""Writing prepared cases and their elements in the caller's transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Protocol

from sqlite_utils import Database

from node.cases.prepare import CaseRows
from node.core.errors import LocalError

__all__ = ["ImportProgress", "write_cases"]

_BATCH = 2_000


class ImportProgress(Protocol):
    """Where an import reports its phases; the CLI draws a progress bar from it."""

    def phase(self, name: str, total: int) -> None: ...

    def advance(self, done: int) -> None: ...


def _next_id(db: Database, table: str) -> int:
    row = db.conn.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}").fetchone()  # noqa: S608 (fixed names)
    return int(row[0]) + 1


def write_cases(
    db: Database,
    cases: list[CaseRows],
    key_types: Sequence[str],
    tiers: Sequence[str],
    element_batches: Iterable[list[bytes]],
    suite_name: str,
    report: ImportProgress,
) -> tuple[int, int]:
    """Insert or replace ``cases`` and their keys; returns (added, updated). Call inside a transaction.

    Row ids are assigned here rather than read back after each insert, so every table is written with
    one ``executemany`` per batch. That is safe because the caller holds the write lock (BEGIN IMMEDIATE).
    Elements may still be arriving from the hashing workers: the match keys are written as each batch of
    elements comes in, in key order.
    """
    if not db.conn.in_transaction:
        raise LocalError("write_cases must run inside a transaction")
    conn = db.conn
    now = datetime.now(UTC).isoformat(timespec="seconds")
    existing: dict[str, int] = dict(conn.execute("SELECT case_ref, id FROM cases").fetchall())
    case_id, ident_id, person_id = (_next_id(db, t) for t in ("cases", "identifiers", "persons"))
    replaced = [(existing[c[0][1]],) for c in cases if c[0][1] in existing]
    # Children first: each delete then finds no dependants left to cascade to.
    conn.executemany("DELETE FROM match_keys WHERE case_id = ?", replaced)
    conn.executemany("DELETE FROM identifiers WHERE case_id = ?", replaced)
    conn.executemany("DELETE FROM persons WHERE case_id = ?", replaced)

    # (case_id, identifier_id, person_id) of every key, in key order, for when its element arrives.
    owners: list[tuple[int, int | None, int | None]] = []
    added = 0
    report.phase("writing", len(cases))
    for start in range(0, len(cases), _BATCH):
        new_cases: list[tuple[object, ...]] = []
        changed: list[tuple[object, ...]] = []
        ident_rows: list[tuple[object, ...]] = []
        person_rows: list[tuple[object, ...]] = []
        for (
            _line,
            ref,
            title,
            summary,
            contact,
            opened,
        ), idents, ident_counts, persons, person_counts in cases[start : start + _BATCH]:
            cid = existing.get(ref)
            if cid is None:
                cid = case_id
                case_id += 1
                added += 1
                new_cases.append((cid, ref, title, summary, contact, opened, now, now))
            else:
                changed.append((title, summary, contact, opened, now, cid))
            for position, (ident, n_keys) in enumerate(zip(idents, ident_counts, strict=True)):
                ident_rows.append((ident_id, cid, position, *ident))
                owners.extend([(cid, ident_id, None)] * n_keys)
                ident_id += 1
            for position, (person, n_keys) in enumerate(zip(persons, person_counts, strict=True)):
                person_rows.append((person_id, cid, position, *person))
                owners.extend([(cid, None, person_id)] * n_keys)
                person_id += 1
        conn.executemany(
            "INSERT INTO cases (id, case_ref, title, summary, contact, opened, status, created_at,"
            " updated_at) VALUES (?, ?, ?, ?, ?, ?, 'open', ?, ?)",
            new_cases,
        )
        conn.executemany(
            "UPDATE cases SET title = ?, summary = ?, contact = ?, opened = ?, updated_at = ? WHERE id = ?",
            changed,
        )
        conn.executemany(
            "INSERT INTO identifiers (id, case_id, position, type, value, region, country, platform)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            ident_rows,
        )
        conn.executemany(
            "INSERT INTO persons (id, case_id, position, name, dob, role) VALUES (?, ?, ?, ?, ?, ?)",
            person_rows,
        )
        report.advance(min(_BATCH, len(cases) - start))

    report.phase("hashing", len(owners))
    key_id = _next_id(db, "match_keys")
    at = 0
    for elements in element_batches:
        end = at + len(elements)
        if end > len(owners):
            raise LocalError("internal error: more elements than keys")
        conn.executemany(
            "INSERT INTO match_keys (id, case_id, identifier_id, person_id, key_type, tier, element, suite)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                (key_id + i, *owners[i], key_types[i], tiers[i], element, suite_name)
                for i, element in enumerate(elements, start=at)
            ),
        )
        at = end
        report.advance(len(elements))
    if at != len(owners):
        raise LocalError("internal error: fewer elements than keys")
    return added, len(cases) - added
