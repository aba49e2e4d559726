"""Key epochs kept in a real SQLite file: delta sessions read their books from the store and leave both
sides with the intersection of the current sets; ending an epoch destroys its material; its scalar is sealed
at rest under the node's epoch key."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from crypto import DEFAULT_SUITE, BlindingKey
from matcher.psi import Role
from matcher.psi.epoch import EpochSession, InitiatorChanges, ResponderChanges
from node.core.errors import LocalError
from node.core.home import NodeHome
from node.core.sealing import seal, sealing_key, unseal
from node.store import open_database, transaction
from node.store.epochs import (
    InitiatorStoreBook,
    ResponderStoreBook,
    apply_initiator,
    apply_responder,
    current_epoch,
    end_epoch,
    open_epoch,
)
from tests.matcher.psi_helpers import POOL, pump, seeded

EPOCH = b"\x42" * 16
AT = "2026-12-03T10:00:00Z"


def _store(tmp_path: Path, name: str):  # type: ignore[no-untyped-def]
    return open_database(tmp_path / f"{name}.db")


def _session(role: Role, elements: set[bytes], key: BlindingKey, seed: int, book=None, removed=()):  # type: ignore[no-untyped-def]
    return EpochSession(role=role, suite=DEFAULT_SUITE, elements=sorted(elements), random_bytes=seeded(seed),
                        key=key, epoch_id=EPOCH, book=book, removed=sorted(removed), chunk_size=7)  # fmt: skip


def _matched_initiator(db, row_id: int) -> set[bytes]:  # type: ignore[no-untyped-def]
    return {bytes(r[0]) for r in db.execute("SELECT element FROM epoch_own WHERE epoch = ? AND matched = 1", [row_id])}


def _matched_responder(db, row_id: int) -> set[bytes]:  # type: ignore[no-untyped-def]
    rows = db.execute(
        "SELECT o.element FROM epoch_own o JOIN epoch_peer p ON p.epoch = o.epoch AND p.tag = o.answer "
        "WHERE o.epoch = ?", [row_id],
    )  # fmt: skip
    return {bytes(r[0]) for r in rows}


def test_delta_sessions_over_store_books_track_the_intersection(tmp_path: Path) -> None:
    ours_db, theirs_db = _store(tmp_path, "ours"), _store(tmp_path, "theirs")
    a, b = BlindingKey(b"\x0a" * 32), BlindingKey(b"\x0b" * 32)
    rng = random.Random(7)
    ours, theirs = set(POOL[:30]), set(POOL[15:45])
    initiator, responder = _session(Role.INITIATOR, ours, a, 1), _session(Role.RESPONDER, theirs, b, 2)
    pump(initiator, responder)
    assert initiator.terms is not None and responder.terms is not None
    with transaction(ours_db), transaction(theirs_db):
        i_row = open_epoch(ours_db, peer="NL-NP", role="initiator", terms=initiator.terms, key_types=("phone",),
                           binding="b", sealed_key=b"s", peer_key=b"", started_at=AT, ends_at=AT)  # fmt: skip
        r_row = open_epoch(theirs_db, peer="DE-BKA", role="responder", terms=responder.terms,
                           key_types=("phone",), binding="b", sealed_key=b"s", peer_key=a.public_key(),
                           started_at=AT, ends_at=AT)  # fmt: skip
        assert isinstance(initiator.changes, InitiatorChanges) and isinstance(responder.changes, ResponderChanges)
        apply_initiator(ours_db, i_row, initiator.changes, 1)
        apply_responder(theirs_db, r_row, responder.changes, initiator.own_size, 1)
    for generation in range(2, 7):
        next_ours = {e for e in ours if rng.random() > 0.2} | set(rng.sample(POOL, 6))
        next_theirs = {e for e in theirs if rng.random() > 0.2} | set(rng.sample(POOL, 6))
        i_epoch, r_epoch = current_epoch(ours_db, "NL-NP", "initiator"), current_epoch(theirs_db, "DE-BKA", "responder")
        assert i_epoch is not None and r_epoch is not None
        initiator = _session(Role.INITIATOR, next_ours - ours, a, generation * 2,
                             InitiatorStoreBook(ours_db, i_epoch), ours - next_ours)  # fmt: skip
        responder = _session(Role.RESPONDER, next_theirs - theirs, b, generation * 2 + 1,
                             ResponderStoreBook(theirs_db, r_epoch), theirs - next_theirs)  # fmt: skip
        pump(initiator, responder)
        with transaction(ours_db), transaction(theirs_db):
            assert isinstance(initiator.changes, InitiatorChanges)
            assert isinstance(responder.changes, ResponderChanges)
            apply_initiator(ours_db, i_row, initiator.changes, generation)
            apply_responder(theirs_db, r_row, responder.changes, initiator.own_size, generation)
        ours, theirs = next_ours, next_theirs
        assert _matched_initiator(ours_db, i_row) == ours & theirs
        assert _matched_responder(theirs_db, r_row) == ours & theirs
    with transaction(theirs_db):
        end_epoch(theirs_db, r_row, "the epoch's time is up", AT)
    assert current_epoch(theirs_db, "DE-BKA", "responder") is None
    left = theirs_db.execute("SELECT (SELECT COUNT(*) FROM epoch_own) + (SELECT COUNT(*) FROM epoch_peer)").fetchone()
    assert left == (0,)
    assert theirs_db.execute("SELECT sealed_key, peer_key, status FROM epochs").fetchone() == (None, None, "ended")


def test_a_sealed_scalar_opens_only_with_its_key_and_binding(tmp_path: Path) -> None:
    home = NodeHome(tmp_path)
    key = sealing_key(home)
    assert sealing_key(home) == key and (tmp_path / "epoch.key").stat().st_mode & 0o077 == 0
    scalar = BlindingKey(bytes(range(32))).secret_bytes()
    sealed = seal(key, scalar, b"NL-NP/initiator/" + EPOCH)
    assert scalar not in sealed
    assert unseal(key, sealed, b"NL-NP/initiator/" + EPOCH) == scalar
    with pytest.raises(LocalError, match="does not open"):
        unseal(key, sealed, b"NL-NP/responder/" + EPOCH)
    with pytest.raises(LocalError, match="does not open"):
        unseal(bytes(32), sealed, b"NL-NP/initiator/" + EPOCH)
