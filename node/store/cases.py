"""The case tables: cases, their identifiers and persons, and the match keys hashed from them.

Bulk writes take rows as named tuples and go in with one ``executemany`` per table and batch: an import
writes millions of rows in one transaction, and building a dict per row (as ``insert_all`` does) would
cost more than the write itself. Ids are assigned by the caller, which holds the write lock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from sqlite_utils import Database

from node.store.key_changes import changes_wanted

__all__ = [
    "CaseCounts",
    "CaseDetails",
    "CaseSizes",
    "CaseState",
    "CaseUpdate",
    "IdentifierRow",
    "MatchKeyRow",
    "NewCase",
    "PersonDetails",
    "PersonRow",
    "case_details",
    "case_ids_by_ref",
    "case_listing",
    "case_sizes",
    "case_state",
    "delete_case",
    "delete_case_contents",
    "insert_cases",
    "insert_identifiers",
    "insert_match_keys",
    "insert_persons",
    "next_ids",
    "persons_of",
    "set_case_status",
    "set_import_cache",
    "update_cases",
]

_ID_TABLES = ("cases", "identifiers", "persons", "match_keys")


class NewCase(NamedTuple):
    id: int
    case_ref: str
    title: str
    summary: str
    contact: str
    opened: str | None
    created_at: str
    updated_at: str


class CaseUpdate(NamedTuple):
    title: str
    summary: str
    contact: str
    opened: str | None
    updated_at: str
    id: int


class IdentifierRow(NamedTuple):
    id: int
    case_id: int
    position: int
    type: str
    value: str
    region: str | None
    country: str | None
    platform: str | None


class PersonRow(NamedTuple):
    id: int
    case_id: int
    position: int
    name: str
    dob: str | None
    role: str


class MatchKeyRow(NamedTuple):
    id: int
    case_id: int
    identifier_id: int | None
    person_id: int | None
    key_type: str
    tier: str
    element: bytes
    suite: str


@dataclass(frozen=True)
class CaseCounts:
    """One case as ``cases list`` shows it."""

    case_ref: str
    title: str
    status: str
    opened: str | None
    identifiers: int
    persons: int
    keys: int
    updated_at: str


@dataclass(frozen=True)
class CaseSizes:
    """How many rows of each kind hang off one case."""

    identifiers: int
    persons: int
    keys: int
    alerts: int


@dataclass(frozen=True)
class CaseState:
    id: int
    status: str


@dataclass(frozen=True)
class CaseDetails:
    """The releasable fields of one case."""

    id: int
    case_ref: str
    title: str
    summary: str
    contact: str


@dataclass(frozen=True)
class PersonDetails:
    name: str
    dob: str | None
    role: str


def next_ids(db: Database, tables: Sequence[str] = _ID_TABLES) -> dict[str, int]:
    """One past the largest id of each named case table (ids are assigned by the writer holding the lock)."""
    unknown = set(tables) - set(_ID_TABLES)
    if unknown:
        raise ValueError(f"not a case table: {sorted(unknown)}")
    return {
        table: int(db.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}").fetchone()[0]) + 1  # noqa: S608 (checked)
        for table in tables
    }


def case_ids_by_ref(db: Database) -> dict[str, int]:
    return {str(ref): int(cid) for ref, cid in db.execute("SELECT case_ref, id FROM cases")}


def delete_case_contents(db: Database, case_ids: Sequence[int]) -> None:
    """Drop the identifiers, persons and keys of cases about to be replaced (children first: nothing cascades)."""
    params = [(cid,) for cid in case_ids]
    db.conn.executemany("DELETE FROM match_keys WHERE case_id = ?", params)
    db.conn.executemany("DELETE FROM identifiers WHERE case_id = ?", params)
    db.conn.executemany("DELETE FROM persons WHERE case_id = ?", params)


def insert_cases(db: Database, rows: Iterable[NewCase]) -> None:
    db.conn.executemany(
        "INSERT INTO cases (id, case_ref, title, summary, contact, opened, status, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, 'open', ?, ?)",
        rows,
    )


def update_cases(db: Database, rows: Iterable[CaseUpdate]) -> None:
    db.conn.executemany(
        "UPDATE cases SET title = ?, summary = ?, contact = ?, opened = ?, updated_at = ? WHERE id = ?", rows
    )


def insert_identifiers(db: Database, rows: Iterable[IdentifierRow]) -> None:
    db.conn.executemany(
        "INSERT INTO identifiers (id, case_id, position, type, value, region, country, platform)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )


def insert_persons(db: Database, rows: Iterable[PersonRow]) -> None:
    db.conn.executemany("INSERT INTO persons (id, case_id, position, name, dob, role) VALUES (?, ?, ?, ?, ?, ?)", rows)


def insert_match_keys(db: Database, rows: Iterable[MatchKeyRow]) -> None:
    """Write new keys; while an epoch is open or a session runs, their elements go into the change log a
    delta reads (``key_changes``), in one statement per batch. Removals, closes and alert keys that go are
    logged by triggers under the same condition (migration 0011); a new key is logged here, as a trigger
    per row made a large import 40 % slower."""
    batch = list(rows)
    db.conn.executemany(
        "INSERT INTO match_keys (id, case_id, identifier_id, person_id, key_type, tier, element, suite)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        batch,
    )
    if batch and changes_wanted(db):
        db.execute(
            "INSERT INTO key_changes (element) SELECT element FROM match_keys WHERE id BETWEEN ? AND ? ORDER BY id",
            [min(r.id for r in batch), max(r.id for r in batch)],
        )


def set_import_cache(db: Database, kib: int) -> None:
    """Page cache of this connection in KiB (an import's element index takes random inserts)."""
    db.execute(f"PRAGMA cache_size = -{int(kib)}")


_LISTING = """
SELECT c.case_ref, c.title, c.status, c.opened,
       (SELECT COUNT(*) FROM identifiers i WHERE i.case_id = c.id) AS identifiers,
       (SELECT COUNT(*) FROM persons p WHERE p.case_id = c.id) AS persons,
       (SELECT COUNT(*) FROM match_keys k WHERE k.case_id = c.id) AS keys,
       c.updated_at
FROM cases c
WHERE :status = 'all' OR c.status = :status
ORDER BY c.case_ref
"""


def case_listing(db: Database, status: str = "all") -> list[CaseCounts]:
    """Every case (or those of one status) with its counts, by case ref."""
    return [CaseCounts(**row) for row in db.query(_LISTING, {"status": status})]


def case_state(db: Database, case_ref: str) -> CaseState | None:
    for row in db.table("cases").rows_where("case_ref = ?", [case_ref], select="id, status"):
        return CaseState(int(row["id"]), str(row["status"]))
    return None


def set_case_status(db: Database, case_id: int, status: str, at: str) -> None:
    db.table("cases").update(case_id, {"status": status, "updated_at": at})


def case_details(db: Database, case_id: int) -> CaseDetails | None:
    for row in db.table("cases").rows_where("id = ?", [case_id], select="id, case_ref, title, summary, contact"):
        return CaseDetails(**row)
    return None


def persons_of(db: Database, case_id: int) -> list[PersonDetails]:
    rows = db.table("persons").rows_where("case_id = ?", [case_id], select="name, dob, role", order_by="position")
    return [PersonDetails(**row) for row in rows]


_SIZES = """
SELECT (SELECT COUNT(*) FROM identifiers WHERE case_id = :id) AS identifiers,
       (SELECT COUNT(*) FROM persons WHERE case_id = :id) AS persons,
       (SELECT COUNT(*) FROM match_keys WHERE case_id = :id) AS keys,
       (SELECT COUNT(*) FROM alerts WHERE case_id = :id) AS alerts
"""


def case_sizes(db: Database, case_id: int) -> CaseSizes:
    [row] = db.query(_SIZES, {"id": case_id})
    return CaseSizes(**row)


def delete_case(db: Database, case_id: int) -> None:
    """Delete one case; its identifiers, persons, keys, alerts and their keys follow by ON DELETE CASCADE."""
    db.table("cases").delete(case_id)
