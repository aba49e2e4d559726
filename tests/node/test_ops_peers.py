"""Peer use cases: a config change and its audit entry happen together or not at all.

The failures are real: the process may not grow any file past a few kilobytes (``RLIMIT_FSIZE``), so the
database cannot append its write-ahead log while small config and certificate files still fit, or, with
a tighter limit, the config itself cannot be rewritten.
"""

from __future__ import annotations

import resource
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from node.core.clock import FixedClock
from node.core.errors import LocalError
from node.core.home import NodeHome
from node.ops import Operations
from node.ops import audit as ops_audit
from node.ops import identity as ops_identity
from node.ops import peers as ops_peers
from node.ops.peers import PolicyChange
from node.store import reading

ACTOR = "cli:test-operator"


@pytest.fixture
def nodes(tmp_path: Path) -> tuple[Operations, NodeHome]:
    """Our node (NL-NP, with a database) and a peer's home (DE-BKA) whose certificate we pin."""
    ours = ops_identity.init(tmp_path / "nl", "NL-NP", "eu-tht", "127.0.0.1:7443").home
    theirs = ops_identity.init(tmp_path / "de", "DE-BKA", "eu-tht", "127.0.0.1:7444").home
    ops = Operations(ours, ACTOR)
    ops_audit.verify(ops)  # creates and migrates the database
    return ops, theirs


def _source(theirs: NodeHome) -> ops_peers.PeerSource:
    return ops_peers.source_from_file("DE-BKA", "127.0.0.1:7444", theirs.tls_cert)


def _events(ops: Operations) -> list[tuple[str, object]]:
    return [(e.event, e.detail.get("actor")) for e in ops_audit.list_entries(ops)]


@contextmanager
def _largest_file(size: int, ops: Operations) -> Iterator[None]:
    """No file of this process may grow past ``size`` bytes while the block runs."""
    # A connection held open keeps the database's shared-memory file at its full size, so opening the
    # database inside the block needs no growth; appending to its log does.
    with reading(ops.home):
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, hard))
        try:
            yield
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def test_pin_update_remove_are_audited_with_the_actor(nodes: tuple[Operations, NodeHome]) -> None:
    ops, theirs = nodes
    pinned = ops_peers.pin(ops, _source(theirs), PolicyChange(types="phone,passport"))
    assert pinned.peer.policy.key_types == ("phone", "passport")
    assert (ops.home.root / "peers" / "DE-BKA.crt").is_file()
    updated = ops_peers.update(ops, "DE-BKA", PolicyChange(daily_quota=500))
    assert updated.policy.daily_quota == 500
    ops_peers.remove(ops, "DE-BKA")
    assert ops.config().peers == ()
    assert not (ops.home.root / "peers" / "DE-BKA.crt").exists()
    assert _events(ops) == [
        ("policy.peer-added", ACTOR),
        ("policy.peer-changed", ACTOR),
        ("policy.peer-removed", ACTOR),
    ]
    assert ops_audit.verify(ops).intact


def test_a_pin_whose_audit_entry_cannot_be_committed_is_undone(nodes: tuple[Operations, NodeHome]) -> None:
    ops, theirs = nodes
    before = ops.home.config.read_bytes()
    with _largest_file(2048, ops), pytest.raises(Exception) as raised:
        ops_peers.pin(ops, _source(theirs), PolicyChange())
    assert "disk" in str(raised.value).lower() or "large" in str(raised.value).lower(), raised.value
    assert ops.home.config.read_bytes() == before
    assert not (ops.home.root / "peers" / "DE-BKA.crt").exists()
    assert _events(ops) == []
    # Nothing half-done is left in the way: the same pin succeeds once the database can be written.
    ops_peers.pin(ops, _source(theirs), PolicyChange())
    assert _events(ops) == [("policy.peer-added", ACTOR)]


def test_update_and_remove_whose_audit_entry_fails_leave_the_config(nodes: tuple[Operations, NodeHome]) -> None:
    ops, theirs = nodes
    ops_peers.pin(ops, _source(theirs), PolicyChange())
    before = ops.home.config.read_bytes()
    with _largest_file(2048, ops):
        with pytest.raises(Exception):  # noqa: B017 (sqlite3's disk I/O error, whatever its class)
            ops_peers.update(ops, "DE-BKA", PolicyChange(types="phone"))
        with pytest.raises(Exception):  # noqa: B017
            ops_peers.remove(ops, "DE-BKA")
    assert ops.home.config.read_bytes() == before
    assert (ops.home.root / "peers" / "DE-BKA.crt").is_file()
    assert _events(ops) == [("policy.peer-added", ACTOR)]


def test_a_config_write_that_fails_leaves_no_audit_entry(nodes: tuple[Operations, NodeHome]) -> None:
    ops, theirs = nodes
    ops_peers.pin(ops, _source(theirs), PolicyChange())
    before = ops.home.config.read_bytes()
    with _largest_file(len(before) + 1, ops), pytest.raises(OSError, match="too large"):
        ops_peers.update(ops, "DE-BKA", PolicyChange(types="phone,passport,iban,email,imei"))
    assert ops.home.config.read_bytes() == before
    assert _events(ops) == [("policy.peer-added", ACTOR)]
    assert ops_audit.verify(ops).intact


def test_check_reports_each_peer(nodes: tuple[Operations, NodeHome]) -> None:
    ops, theirs = nodes
    ops_peers.pin(ops, _source(theirs), PolicyChange())
    [ok] = ops_peers.check(ops)
    assert ok.code == "DE-BKA" and ok.problem is None
    later = Operations(ops.home, ACTOR, FixedClock(datetime.now(UTC) + timedelta(days=20 * 365)))
    [expired] = ops_peers.check(later)
    assert expired.problem is not None and "expired" in expired.problem
    pinned = ops.home.root / "peers" / "DE-BKA.crt"
    pinned.write_bytes(ops.home.tls_cert.read_bytes())  # another certificate under the pinned name
    [swapped] = ops_peers.check(ops)
    assert swapped.problem is not None and "fingerprint" in swapped.problem
    pinned.unlink()
    [missing] = ops_peers.check(ops)
    assert missing.problem is not None and "cannot read" in missing.problem
    with pytest.raises(LocalError, match="not configured"):
        ops_peers.check(ops, ("RO-DIICOT",))


def test_pin_refuses_a_certificate_expired_by_the_clock_it_is_given(nodes: tuple[Operations, NodeHome]) -> None:
    ops, theirs = nodes
    later = Operations(ops.home, ACTOR, FixedClock(datetime.now(UTC) + timedelta(days=20 * 365)))
    with pytest.raises(LocalError, match="expired"):
        ops_peers.pin(later, _source(theirs), PolicyChange())
    assert ops.config().peers == ()
    assert _events(ops) == []
