"""The SQLite store: settings, migrations, and the two matching queries."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlite_utils import Database

from node.core.home import NodeHome
from node.matching.elements import load_session_input
from node.store import MIGRATIONS, Migration, migrate, open_database


def test_store_opens_in_wal_with_foreign_keys_and_full_sync(home: Path) -> None:
    db = open_database(NodeHome(home))
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert {"cases", "persons", "identifiers", "match_keys", "_migrations"} <= set(db.table_names())
    db.close()


def test_store_migrations_apply_once_in_order(home: Path) -> None:
    db = open_database(NodeHome(home))
    names = [r[0] for r in db.execute("SELECT name FROM _migrations ORDER BY rowid")]
    assert names == [m.name for m in MIGRATIONS]
    assert migrate(db) == []
    db.close()


def test_store_failed_migration_rolls_back_and_is_not_recorded(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = open_database(NodeHome(home))

    def broken(d: Database) -> None:
        d.conn.execute("CREATE TABLE half_done (x INTEGER)")
        raise RuntimeError("boom")

    monkeypatch.setattr("node.store.migrations.MIGRATIONS", [*MIGRATIONS, Migration("9999_broken", broken)])
    with pytest.raises(RuntimeError):
        migrate(db)
    assert "half_done" not in db.table_names()
    assert db.execute("SELECT COUNT(*) FROM _migrations WHERE name = '9999_broken'").fetchone()[0] == 0
    db.close()


def _case(db: Database, ref: str, status: str) -> int:
    db.conn.execute(
        "INSERT INTO cases (case_ref, title, status, created_at, updated_at) VALUES (?, 't', ?, 'x', 'x')",
        (ref, status),
    )
    return int(db.conn.execute("SELECT id FROM cases WHERE case_ref = ?", (ref,)).fetchone()[0])


def test_store_queries_skip_closed_cases_and_other_types(home: Path) -> None:
    db = open_database(NodeHome(home))
    with db.atomic():
        a, b = _case(db, "A-1", "open"), _case(db, "B-1", "closed")
        for cid, element, key_type in (
            (a, b"\x01" * 32, "phone"),
            (a, b"\x02" * 32, "email"),
            (b, b"\x03" * 32, "phone"),
        ):
            db.conn.execute(
                "INSERT INTO identifiers (case_id, position, type, value) VALUES (?, 0, ?, 'v')",
                (cid, key_type),
            )
            ident = db.conn.execute("SELECT MAX(id) FROM identifiers").fetchone()[0]
            db.conn.execute(
                "INSERT INTO match_keys (case_id, identifier_id, key_type, tier, element, suite)"
                " VALUES (?, ?, ?, 'strong', ?, 's')",
                (cid, ident, key_type, element),
            )

    def pairs(suite: str, key_types: list[str]) -> list[tuple[bytes, str]]:
        return [(r.element, r.key_type) for r in load_session_input(db, suite, key_types).rows]

    assert pairs("s", ["phone"]) == [(b"\x01" * 32, "phone")]
    assert sorted(pairs("s", ["phone", "email"])) == [
        (b"\x01" * 32, "phone"),
        (b"\x02" * 32, "email"),
    ]
    assert pairs("other-suite", ["phone"]) == []
    # Each element maps back to the open case that holds it; the closed case's element is not there.
    rows = load_session_input(db, "s", ["phone"]).rows
    assert [(r.case_id, r.key_type, r.tier, r.element) for r in rows] == [(a, "phone", "strong", b"\x01" * 32)]
    db.close()


def test_store_match_key_names_exactly_one_source(home: Path) -> None:
    db = open_database(NodeHome(home))
    cid = _case(db, "A-1", "open")
    with pytest.raises(Exception, match="CHECK"):
        db.conn.execute(
            "INSERT INTO match_keys (case_id, key_type, tier, element, suite)"
            " VALUES (?, 'phone', 'strong', x'00', 's')",
            (cid,),
        )
    db.close()


def test_entries_appended_together_chain_exactly_as_one_by_one(tmp_path: Path) -> None:
    # A session's alerts are audited in one statement: the entries, their order and their hashes are those
    # that many single appends give, and the chain verifies.
    from node.store import audit, transaction

    created: dict[str, audit.DetailValue] = {"session": "s1", "tier": "strong", "key_types": ["phone"]}
    pending = [audit.Pending("alert.created", "DE-BKA", f"alert:{i}", created) for i in range(5)]
    pending.insert(2, audit.Pending("alert.matched-again", "DE-BKA", "alert:9", {"session": "s1"}))
    one, many = open_database(tmp_path / "one.db"), open_database(tmp_path / "many.db")
    for db in (one, many):
        with transaction(db):
            audit.append(db, "case.imported", at="2026-12-04T10:00:00+00:00", cases=3)
    with transaction(one):
        for entry in pending:
            audit.append(one, entry.event, at="2026-12-04T10:00:01+00:00", peer=entry.peer, subject=entry.subject,
                         **entry.detail)  # fmt: skip
    with transaction(many):
        audit.append_many(many, pending, at="2026-12-04T10:00:01+00:00")
        audit.append_many(many, [], at="2026-12-04T10:00:01+00:00")
    assert [e.as_json() for e in audit.entries(many)] == [e.as_json() for e in audit.entries(one)]
    assert len(audit.entries(many)) == 7 and audit.verify(many) == []
    with transaction(many):
        audit.append(many, "case.closed", at="2026-12-04T10:00:02+00:00", subject="case:1")
    assert audit.verify(many) == []
