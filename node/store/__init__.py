"""The node's SQLite store: one database file in the node home, schema grown by named migrations."""

from __future__ import annotations

from node.store.db import is_unavailable, open_database, open_for_session, reading, transaction, unit_of_work
from node.store.migrations import MIGRATIONS, Migration, migrate

__all__ = [
    "MIGRATIONS",
    "Migration",
    "is_unavailable",
    "migrate",
    "open_database",
    "open_for_session",
    "reading",
    "transaction",
    "unit_of_work",
]
