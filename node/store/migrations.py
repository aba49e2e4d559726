"""Named schema migrations, applied once each, in order, each in its own transaction.

To change the schema, append a function decorated with ``@migration("NNNN_what_it_does")`` at the end of
this file. Never rename, reorder or edit a migration that has shipped: nodes in the field have recorded its
name in ``_migrations`` and will not run it again. A migration receives the database inside an open
transaction and must not commit; it should use plain ``CREATE``/``ALTER`` statements (not
``executescript``, which commits on its own).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlite_utils import Database

__all__ = ["MIGRATIONS", "Migration", "migrate", "migration"]


@dataclass(frozen=True)
class Migration:
    name: str
    apply: Callable[[Database], None]


MIGRATIONS: list[Migration] = []


def migration(name: str) -> Callable[[Callable[[Database], None]], Callable[[Database], None]]:
    """Register ``fn`` as the next migration under a stable ``name``."""

    def register(fn: Callable[[Database], None]) -> Callable[[Database], None]:
        if any(m.name == name for m in MIGRATIONS):
            raise ValueError(f"duplicate migration name {name!r}")
        MIGRATIONS.append(Migration(name, fn))
        return fn

    return register


def migrate(db: Database) -> list[str]:
    """Apply every migration not yet recorded; returns the names applied now."""
    db.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    applied_now: list[str] = []
    for m in MIGRATIONS:
        conn = db.conn
        # The check sits inside the write transaction so two processes opening a fresh database at once
        # cannot both apply the same migration.
        conn.execute("BEGIN IMMEDIATE")
        try:
            done = conn.execute("SELECT 1 FROM _migrations WHERE name = ?", (m.name,)).fetchone()
            if done is None:
                m.apply(db)
                conn.execute(
                    "INSERT INTO _migrations (name, applied_at) VALUES (?, ?)",
                    (m.name, datetime.now(UTC).isoformat(timespec="seconds")),
                )
                applied_now.append(m.name)
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    return applied_now


def _run(db: Database, *statements: str) -> None:
    for sql in statements:
        db.conn.execute(sql)


@migration("0001_cases")
def _cases(db: Database) -> None:
    # The agency's own case data, as the case file gave it. It never leaves the node except through an
    # approved disclosure.
    _run(
        db,
        """CREATE TABLE cases (
            id INTEGER PRIMARY KEY,
            case_ref TEXT NOT NULL UNIQUE,
            title TEXT NOT NULL,
            summary TEXT NOT NULL DEFAULT '',
            contact TEXT NOT NULL DEFAULT '',
            opened TEXT,
            status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
        """CREATE TABLE persons (
            id INTEGER PRIMARY KEY,
            case_id INTEGER NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            name TEXT NOT NULL,
            dob TEXT,
            role TEXT NOT NULL
        )""",
        "CREATE INDEX persons_by_case ON persons(case_id)",
        """CREATE TABLE identifiers (
            id INTEGER PRIMARY KEY,
            case_id INTEGER NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            type TEXT NOT NULL,
            value TEXT NOT NULL,
            region TEXT,
            country TEXT,
            platform TEXT
        )""",
        "CREATE INDEX identifiers_by_case ON identifiers(case_id)",
    )


@migration("0002_match_keys")
def _match_keys(db: Database) -> None:
    # One row per match key: only the precomputed hash-to-group element is kept, never the canonical
    # value (``casebridge normalize`` recomputes that on demand from the case data). Exactly one of
    # identifier_id / person_id names the row the key came from.
    _run(
        db,
        """CREATE TABLE match_keys (
            id INTEGER PRIMARY KEY,
            case_id INTEGER NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
            identifier_id INTEGER REFERENCES identifiers(id) ON DELETE CASCADE,
            person_id INTEGER REFERENCES persons(id) ON DELETE CASCADE,
            key_type TEXT NOT NULL,
            tier TEXT NOT NULL CHECK (tier IN ('strong', 'medium', 'weak')),
            element BLOB NOT NULL,
            suite TEXT NOT NULL,
            CHECK ((identifier_id IS NULL) <> (person_id IS NULL))
        )""",
        # "All elements of open cases for key types T": scan by type, join cases by primary key.
        "CREATE INDEX match_keys_by_type ON match_keys(suite, key_type, case_id)",
        # "Which cases own element E": after an intersection, map matched elements back to cases.
        "CREATE INDEX match_keys_by_element ON match_keys(element)",
        # Replacing a case's keys on re-import and the cascades from cases / identifiers / persons.
        "CREATE INDEX match_keys_by_case ON match_keys(case_id)",
        "CREATE INDEX match_keys_by_identifier ON match_keys(identifier_id) WHERE identifier_id IS NOT NULL",
        "CREATE INDEX match_keys_by_person ON match_keys(person_id) WHERE person_id IS NOT NULL",
    )

