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

from sqlite_utils import Database

from node.core.clock import SYSTEM, Clock

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


def migrate(db: Database, clock: Clock = SYSTEM) -> list[str]:
    """Apply every migration not yet recorded; returns the names applied now (stamped by ``clock``)."""
    db.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    applied_now: list[str] = []
    # The database is opened for every unit of work (each RPC, each command): when nothing is missing, a
    # read is enough, and no write lock is taken per migration.
    recorded = {row[0] for row in db.conn.execute("SELECT name FROM _migrations")}
    for m in MIGRATIONS:
        if m.name in recorded:
            continue
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
                    (m.name, clock.now_iso()),
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


# Sessions, alerts with their matched keys, and the audit chain.
_SESSIONS_ALERTS_AUDIT = (
    # Every PSI session we took part in, either role. The daily quota sums peer_size per peer and day.
    """CREATE TABLE sessions (
            id INTEGER PRIMARY KEY,
            session_id TEXT NOT NULL,
            peer TEXT NOT NULL,
            role TEXT NOT NULL CHECK (role IN ('initiator', 'responder')),
            mode TEXT NOT NULL,
            key_types TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('running', 'completed', 'failed', 'refused')),
            own_size INTEGER NOT NULL,
            peer_size INTEGER NOT NULL,
            intersection INTEGER NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT NOT NULL,
            day TEXT NOT NULL,
            reason TEXT,
            UNIQUE (session_id, peer, role)
        )""",
    "CREATE INDEX sessions_by_peer_day ON sessions(peer, day)",
    # One alert per (peer, own case). Never deleted by matching: a vanished match sets match_state.
    """CREATE TABLE alerts (
            id INTEGER PRIMARY KEY,
            peer TEXT NOT NULL,
            case_id INTEGER NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
            tier TEXT NOT NULL CHECK (tier IN ('strong', 'medium', 'weak')),
            status TEXT NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'confirmed', 'dismissed')),
            match_state TEXT NOT NULL DEFAULT 'current' CHECK (match_state IN ('current', 'gone')),
            reason TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            last_matched_at TEXT NOT NULL,
            gone_since TEXT,
            UNIQUE (peer, case_id)
        )""",
    "CREATE INDEX alerts_by_status ON alerts(status)",
    # The matched keys of an alert. element is our own stored hash-to-group value (already in
    # match_keys); match_handle is the opaque name both agencies share for the match.
    """CREATE TABLE alert_keys (
            id INTEGER PRIMARY KEY,
            alert_id INTEGER NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
            key_type TEXT NOT NULL,
            tier TEXT NOT NULL,
            element BLOB NOT NULL,
            match_handle BLOB NOT NULL,
            first_session TEXT NOT NULL,
            last_session TEXT NOT NULL,
            first_seen TEXT NOT NULL,
            last_seen TEXT NOT NULL,
            current INTEGER NOT NULL DEFAULT 1,
            UNIQUE (alert_id, element)
        )""",
    "CREATE INDEX alert_keys_by_handle ON alert_keys(match_handle)",
    # The hash chain (see node/store/audit.py) and its head, kept apart so a deleted tail shows.
    """CREATE TABLE audit (
            seq INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            event TEXT NOT NULL,
            peer TEXT,
            subject TEXT,
            detail TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL
        )""",
    "CREATE TABLE audit_head (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, hash TEXT NOT NULL)",
)


@migration("0003_sessions_alerts_audit")
def _sessions_alerts_audit(db: Database) -> None:
    _run(db, *_SESSIONS_ALERTS_AUDIT)


@migration("0004_disclosures")
def _disclosures(db: Database) -> None:
    _run(
        db,
        # Both directions of the two-step follow-up. Outgoing rows are ours (alert_id = our alert); incoming
        # rows are a peer's requests about one of our alerts (alert_id = our alert holding the handle).
        # release/signature hold the signed release exactly as produced, so it can be re-verified later.
        """CREATE TABLE disclosures (
            id INTEGER PRIMARY KEY,
            request_id TEXT NOT NULL,
            direction TEXT NOT NULL CHECK (direction IN ('outgoing', 'incoming')),
            peer TEXT NOT NULL,
            alert_id INTEGER REFERENCES alerts(id) ON DELETE SET NULL,
            match_handle BLOB NOT NULL,
            purpose TEXT NOT NULL,
            legal_basis TEXT NOT NULL,
            handling TEXT NOT NULL CHECK (handling IN ('H0', 'H1', 'H2', 'H3')),
            status TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'approved', 'denied', 'refused')),
            reason TEXT,
            fields TEXT,
            release BLOB,
            signature BLOB,
            safeguarding INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            decided_at TEXT,
            -- Our own steps are recorded before they are sent; delivered says whether the peer has them.
            delivered INTEGER NOT NULL DEFAULT 1,
            delivery_error TEXT,
            UNIQUE (request_id, direction)
        )""",
        "CREATE INDEX disclosures_by_status ON disclosures(status, direction)",
        # Set on the requester's alert when a release names a victim: the marker travels with the alert.
        "ALTER TABLE alerts ADD COLUMN safeguarding INTEGER NOT NULL DEFAULT 0",
    )


@migration("0005_console")
def _console(db: Database) -> None:
    _run(
        db,
        # Console users. The password is kept only as its memory-hard hash (Argon2id, in its own PHC string).
        """CREATE TABLE users (
            name TEXT PRIMARY KEY,
            role TEXT NOT NULL CHECK (role IN ('analyst', 'approver', 'admin')),
            password_hash TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
        # Failed logins, kept for the throttle window; the name tried is kept even when no such user exists.
        "CREATE TABLE login_failures (id INTEGER PRIMARY KEY, name TEXT NOT NULL, at TEXT NOT NULL)",
        "CREATE INDEX login_failures_by_name ON login_failures(name, at)",
        # Which alerts each console user has opened (the inbox's unread state).
        """CREATE TABLE alert_reads (
            user TEXT NOT NULL,
            alert_id INTEGER NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
            read_at TEXT NOT NULL,
            PRIMARY KEY (user, alert_id)
        )""",
        # Four eyes: a request or a release one user prepared, waiting for an approver who did not.
        """CREATE TABLE proposals (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL CHECK (kind IN ('request', 'release')),
            alert_id INTEGER REFERENCES alerts(id) ON DELETE CASCADE,
            disclosure_id INTEGER REFERENCES disclosures(id) ON DELETE CASCADE,
            detail TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'waiting' CHECK (status IN ('waiting', 'approved', 'rejected')),
            prepared_by TEXT NOT NULL,
            prepared_at TEXT NOT NULL,
            decided_by TEXT,
            decided_at TEXT,
            disclosure_made INTEGER REFERENCES disclosures(id) ON DELETE SET NULL
        )""",
        "CREATE INDEX proposals_by_status ON proposals(status, kind)",
    )


@migration("0006_schedule")
def _schedule(db: Database) -> None:
    _run(
        db,
        # Small named counters: the case generation (raised by every change to our cases), how far news of
        # new alerts and requests has gone out, which process runs the scheduler.
        "CREATE TABLE markers (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
        # The scheduler's view of each peer: what its rounds covered, how they went, when the next is due.
        """CREATE TABLE rounds (
            peer TEXT PRIMARY KEY,
            covered INTEGER NOT NULL DEFAULT 0,
            failures INTEGER NOT NULL DEFAULT 0,
            last_cause TEXT,
            last_at TEXT,
            last_outcome TEXT,
            last_error TEXT,
            next_at TEXT,
            next_cause TEXT
        )""",
        # The case generation a session's own elements were loaded at: what a completed session covered.
        "ALTER TABLE sessions ADD COLUMN generation INTEGER",
    )


@migration("0007_epochs")
def _epochs(db: Database) -> None:
    _run(
        db,
        # One key epoch per peer and role: its terms, our scalar sealed under the node's epoch key (NULL once
        # the epoch ended: its material is destroyed), what it is bound to (certificates, secret, policy) and
        # the case generation its last session covered.
        """CREATE TABLE epochs (
            id INTEGER PRIMARY KEY,
            peer TEXT NOT NULL,
            role TEXT NOT NULL CHECK (role IN ('initiator', 'responder')),
            epoch_id TEXT NOT NULL,
            key_types TEXT NOT NULL,
            binding TEXT NOT NULL,
            tag_length INTEGER NOT NULL,
            initiator_capacity INTEGER NOT NULL,
            responder_capacity INTEGER NOT NULL,
            sealed_key BLOB,
            peer_key BLOB,
            next_position INTEGER NOT NULL DEFAULT 0,
            own_total INTEGER NOT NULL DEFAULT 0,
            matched_count INTEGER NOT NULL DEFAULT 0,
            generation INTEGER NOT NULL DEFAULT 0,
            started_at TEXT NOT NULL,
            ends_at TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'ended')),
            ended_at TEXT,
            ended_reason TEXT,
            UNIQUE (peer, role, epoch_id)
        )""",
        "CREATE INDEX epochs_open ON epochs(peer, role) WHERE status = 'open'",
        # Our elements in an epoch: the initiator's position and whether it matches; the responder's answer.
        """CREATE TABLE epoch_own (
            epoch INTEGER NOT NULL REFERENCES epochs(id) ON DELETE CASCADE,
            element BLOB NOT NULL,
            position INTEGER,
            answer BLOB,
            matched INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (epoch, element)
        ) WITHOUT ROWID""",
        "CREATE INDEX epoch_own_by_position ON epoch_own(epoch, position) WHERE position IS NOT NULL",
        "CREATE INDEX epoch_own_by_answer ON epoch_own(epoch, answer) WHERE answer IS NOT NULL",
        # Responder: the tag of each live initiator position, doubly blinded.
        """CREATE TABLE epoch_peer (
            epoch INTEGER NOT NULL REFERENCES epochs(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            tag BLOB NOT NULL,
            PRIMARY KEY (epoch, position)
        ) WITHOUT ROWID""",
        "CREATE INDEX epoch_peer_by_tag ON epoch_peer(epoch, tag)",
    )


@migration("0008_session_kinds")
def _session_kinds(db: Database) -> None:
    _run(
        db,
        # A full session (over both whole sets; also every session outside an epoch) or a delta: each kind
        # counts against its own daily quota.
        "ALTER TABLE sessions ADD COLUMN kind TEXT NOT NULL DEFAULT 'full' CHECK (kind IN ('full', 'delta'))",
        # How many sessions of the epoch this side recorded (its full session is the first): a delta carries
        # the initiator's count, and a responder whose count differs is out of step.
        "ALTER TABLE epochs ADD COLUMN rounds INTEGER NOT NULL DEFAULT 0",
    )


@migration("0009_key_changes")
def _key_changes(db: Database) -> None:
    _run(
        db,
        # Every element whose standing may have changed, in commit order: a key added or removed (also by
        # a case or identifier deleted), or every key of a case that closed or reopened. A delta reads only
        # the entries after the last its epoch took in, so it costs the change, not the sets. AUTOINCREMENT:
        # a pruned entry's number is never given out again.
        "CREATE TABLE key_changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, element BLOB NOT NULL)",
        "CREATE TRIGGER key_added AFTER INSERT ON match_keys BEGIN "
        "INSERT INTO key_changes (element) VALUES (NEW.element); END",
        "CREATE TRIGGER key_removed AFTER DELETE ON match_keys BEGIN "
        "INSERT INTO key_changes (element) VALUES (OLD.element); END",
        "CREATE TRIGGER key_changed AFTER UPDATE ON match_keys BEGIN "
        "INSERT INTO key_changes (element) VALUES (OLD.element); "
        "INSERT INTO key_changes (element) VALUES (NEW.element); END",
        "CREATE TRIGGER case_status_changed AFTER UPDATE OF status ON cases WHEN OLD.status IS NOT NEW.status "
        "BEGIN INSERT INTO key_changes (element) SELECT element FROM match_keys WHERE case_id = NEW.id; END",
        # The last change an epoch's elements take in (NULL: an epoch from before the log; its deltas compare
        # the whole sets) and the last change a session's keys were loaded after.
        "ALTER TABLE epochs ADD COLUMN changes_seen INTEGER",
        "ALTER TABLE sessions ADD COLUMN changes_mark INTEGER",
        # Which of our cases' alerts hold an element: a delta re-records only the cases its changes touch.
        "CREATE INDEX alert_keys_by_element ON alert_keys(element)",
    )


@migration("0010_new_keys_logged_by_the_writer")
def _new_keys_logged_by_the_writer(db: Database) -> None:
    # New keys are logged by the store's writer (node.store.cases.insert_match_keys), in one statement per
    # batch and only while an epoch is open or a session runs: a trigger per inserted row cost a large
    # import 40 % of its time.
    _run(db, "DROP TRIGGER key_added")


# Whether a change made now may be taken in later: an epoch is open or a session runs. The log is kept
# only then; a session loading keys afterwards reads them as they are.
_WANTED = (
    "(EXISTS (SELECT 1 FROM epochs WHERE status = 'open') OR EXISTS (SELECT 1 FROM sessions WHERE status = 'running'))"
)


@migration("0011_key_changes_only_while_wanted")
def _key_changes_only_while_wanted(db: Database) -> None:
    _run(
        db,
        # Running sessions are few; the gate looks them up on every logged change.
        "CREATE INDEX sessions_running ON sessions(peer, role) WHERE status = 'running'",
        "DROP TRIGGER key_removed",
        "DROP TRIGGER key_changed",
        "DROP TRIGGER case_status_changed",
        f"CREATE TRIGGER key_removed AFTER DELETE ON match_keys WHEN {_WANTED} BEGIN "  # noqa: S608  (constants)
        "INSERT INTO key_changes (element) VALUES (OLD.element); END",
        f"CREATE TRIGGER key_changed AFTER UPDATE ON match_keys WHEN {_WANTED} BEGIN "  # noqa: S608  (constants)
        "INSERT INTO key_changes (element) VALUES (OLD.element); "
        "INSERT INTO key_changes (element) VALUES (NEW.element); END",
        f"CREATE TRIGGER case_status_changed AFTER UPDATE OF status ON cases WHEN OLD.status IS NOT NEW.status "  # noqa: S608  (constants)
        f"AND {_WANTED} BEGIN INSERT INTO key_changes (element) SELECT element FROM match_keys WHERE case_id = NEW.id; "
        "END",
        # An alert key that went (retention purges dismissed alerts; a case delete takes its alerts): whether
        # its case should have an alert is open again.
        f"CREATE TRIGGER alert_key_removed AFTER DELETE ON alert_keys WHEN OLD.current = 1 AND {_WANTED} BEGIN "  # noqa: S608  (constants)
        "INSERT INTO key_changes (element) VALUES (OLD.element); END",
    )


@migration("0012_epoch_levels")
def _epoch_levels(db: Database) -> None:
    # A delta's keys go to level 1 of its epoch's tables, which sort apart from the full session's level 0:
    # a round then writes the few index pages of what it adds, not a page in every part of the whole set.
    # Level 1 is merged into level 0 once it has grown to an eighth of it (node/store/epochs.py).
    _run(
        db,
        """CREATE TABLE epoch_own_levels (
            epoch INTEGER NOT NULL REFERENCES epochs(id) ON DELETE CASCADE,
            level INTEGER NOT NULL DEFAULT 0 CHECK (level IN (0, 1)),
            element BLOB NOT NULL,
            position INTEGER,
            answer BLOB,
            matched INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (epoch, level, element)
        ) WITHOUT ROWID""",
        "INSERT INTO epoch_own_levels (epoch, level, element, position, answer, matched) "
        "SELECT epoch, 0, element, position, answer, matched FROM epoch_own",
        "DROP TABLE epoch_own",
        "ALTER TABLE epoch_own_levels RENAME TO epoch_own",
        "CREATE INDEX epoch_own_by_position ON epoch_own(epoch, position) WHERE position IS NOT NULL",
        "CREATE INDEX epoch_own_by_answer ON epoch_own(epoch, level, answer) WHERE answer IS NOT NULL",
        """CREATE TABLE epoch_peer_levels (
            epoch INTEGER NOT NULL REFERENCES epochs(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            level INTEGER NOT NULL DEFAULT 0 CHECK (level IN (0, 1)),
            tag BLOB NOT NULL,
            PRIMARY KEY (epoch, position)
        ) WITHOUT ROWID""",
        "INSERT INTO epoch_peer_levels (epoch, position, level, tag) SELECT epoch, position, 0, tag FROM epoch_peer",
        "DROP TABLE epoch_peer",
        "ALTER TABLE epoch_peer_levels RENAME TO epoch_peer",
        "CREATE INDEX epoch_peer_by_tag ON epoch_peer(epoch, level, tag)",
    )
