"""Key epochs between real nodes: after a full session, a round sends only what changed; an epoch roll, a
certificate change and a policy change each start a fresh full session with fresh scalars.

Nodes serve in-process over mutual TLS; cases and policies change through the real CLI; the epoch's state
is read from each node's own SQLite file.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from crypto.certificates import create_identity
from matcher.identifiers import KEY_TYPES
from node.core.clock import now
from tests.integration.conftest import Federation

pytestmark = pytest.mark.timeout(240)

NL, DE = "NL-NP", "DE-BKA"
CHANGED = "a certificate, the federation secret or the policy changed"


def _case(path: Path, ref: str, phone: str) -> Path:
    record = {"case_ref": ref, "title": "t", "summary": "s", "contact": "c", "opened": "2026-11-30",
              "identifiers": [{"type": "phone", "value": phone}]}  # fmt: skip
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    return path


def _query(fed: Federation, code: str, sql: str, *params: object) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(fed.home(code) / "casebridge.db")) as conn:
        return conn.execute(sql, params).fetchall()


def _epochs(fed: Federation, code: str, role: str) -> list[tuple[Any, ...]]:
    """(epoch id, status, ended reason, rounds, sealed key present) of ``code``'s epochs in ``role``."""
    return _query(fed, code, "SELECT epoch_id, status, ended_reason, rounds, sealed_key IS NOT NULL FROM epochs "
                  "WHERE role = ? ORDER BY id", role)  # fmt: skip


def _current(fed: Federation, code: str, state: str = "current") -> set[str]:
    return {a["case_ref"] for a in fed.alerts(code) if a["match_state"] == state}


def _match(fed: Federation, code: str, peer: str) -> dict[str, Any]:
    outcome = fed.match(code, peer)
    assert outcome.status == "completed", outcome.error
    return outcome.as_json()


def test_a_delta_round_sends_only_what_changed_and_ends_as_a_full_session_would(
    federation: Federation, tmp_path: Path
) -> None:
    fed = federation
    first = _match(fed, NL, DE)
    assert first["kind"] == "full" and first["own_size"] > 10
    nl_after_full, de_after_full = _current(fed, NL), _current(fed, DE)
    assert nl_after_full and de_after_full

    # Nothing changed on either side: a delta of nothing, and every alert stays as it was.
    quiet = _match(fed, NL, DE)
    assert (quiet["kind"], quiet["own_size"], quiet["peer_size"]) == ("delta", 0, 0)
    assert quiet["intersection"] == first["intersection"] and quiet["new_alerts"] == 0
    assert _current(fed, NL) == nl_after_full

    # A new case on each side sharing one phone: the delta carries those keys only, and both get alerts.
    fed.cli(NL, "cases", "import", str(_case(tmp_path / "nl.jsonl", "NL-EPOCH-1", "+49 151 7777 0001")))
    fed.cli(DE, "cases", "import", str(_case(tmp_path / "de.jsonl", "DE-EPOCH-1", "+49 151 7777 0001")))
    grown = _match(fed, NL, DE)
    assert grown["kind"] == "delta" and 1 <= grown["own_size"] <= 3 and 1 <= grown["peer_size"] <= 3
    assert grown["new_alerts"] == 1 and grown["intersection"] == first["intersection"] + grown["own_size"]
    assert "NL-EPOCH-1" in _current(fed, NL) and "DE-EPOCH-1" in _current(fed, DE)

    # A third case at NL with a phone already in the epoch: nothing new to send, yet the case gets its alert.
    fed.cli(NL, "cases", "import", str(_case(tmp_path / "nl2.jsonl", "NL-EPOCH-2", "+49 151 7777 0001")))
    shared = _match(fed, NL, DE)
    assert shared["kind"] == "delta" and shared["own_size"] == 0 and shared["new_alerts"] == 1
    assert "NL-EPOCH-2" in _current(fed, NL)

    # Closing DE's case withdraws its key: both NL cases' alerts and DE's own are gone.
    fed.cli(DE, "cases", "close", "DE-EPOCH-1")
    closed = _match(fed, NL, DE)
    assert closed["kind"] == "delta" and closed["gone_alerts"] == 2
    assert {"NL-EPOCH-1", "NL-EPOCH-2"} <= _current(fed, NL, "gone")
    assert "DE-EPOCH-1" in _current(fed, DE, "gone")
    epoch_state = {code: (_current(fed, code), _current(fed, code, "gone")) for code in (NL, DE)}

    # The same sets in a session outside any epoch leave both sides exactly where the deltas did.
    fed.cli(NL, "peers", "update", DE, "--epoch", "none")
    plain = _match(fed, NL, DE)
    assert plain["kind"] == "full" and plain["intersection"] == closed["intersection"]
    assert (plain["new_alerts"], plain["gone_alerts"]) == (0, 0)
    assert {code: (_current(fed, code), _current(fed, code, "gone")) for code in (NL, DE)} == epoch_state
    assert [row[1:3] for row in _epochs(fed, NL, "initiator")] == [
        ("ended", "the policy keeps no epochs with the peer")
    ]
    kinds = _query(fed, DE, "SELECT kind, status FROM sessions WHERE role = 'responder' ORDER BY id")
    assert kinds == [("full", "completed")] + [("delta", "completed")] * 4 + [("full", "completed")]


def _roll(fed: Federation, code: str, role: str) -> None:
    """Let ``code``'s open epoch in ``role`` run its time (its end moved to the past in its own store)."""
    with closing(sqlite3.connect(fed.home(code) / "casebridge.db")) as conn, conn:
        conn.execute("UPDATE epochs SET ends_at = '2000-01-01T00:00:00+00:00' WHERE status = 'open' AND role = ?",
                     (role,))  # fmt: skip


def _material(fed: Federation, code: str) -> tuple[set[bytes], set[bytes]]:
    """What ``code`` keeps of its open responder epoch: the peer's tags, and the peer's answers to ours."""
    tags = {bytes(t) for (t,) in _query(fed, code, "SELECT tag FROM epoch_peer JOIN epochs ON epochs.id = epoch "
                                         "WHERE status = 'open' AND role = 'responder'")}  # fmt: skip
    answers = {bytes(a) for (a,) in _query(fed, code, "SELECT answer FROM epoch_own JOIN epochs ON epochs.id = "
                                            "epoch WHERE status = 'open' AND role = 'responder'")}  # fmt: skip
    return tags, answers


def test_an_epoch_roll_starts_a_full_session_and_the_old_material_matches_nothing(federation: Federation) -> None:
    fed = federation
    assert _match(fed, NL, DE)["kind"] == "full"
    assert _match(fed, NL, DE)["kind"] == "delta"
    old_tags, old_answers = _material(fed, DE)
    assert old_tags and old_answers
    ((old_epoch, *_),) = _epochs(fed, NL, "initiator")

    _roll(fed, NL, "initiator")
    rolled = _match(fed, NL, DE)
    assert rolled["kind"] == "full"
    (ended, current) = _epochs(fed, NL, "initiator")
    assert ended == (old_epoch, "ended", "the epoch ran its time", 2, 0)
    assert current[0] != old_epoch and current[1:] == ("open", None, 1, 1)
    assert _query(fed, NL, "SELECT COUNT(*) FROM epoch_own JOIN epochs ON epochs.id = epoch "
                  "WHERE status = 'ended'") == [(0,)]  # fmt: skip
    new_tags, new_answers = _material(fed, DE)
    # Fresh scalars on both sides: nothing either peer kept from the old epoch equals anything of the new.
    assert len(new_tags) == len(old_tags) and not new_tags & old_tags
    assert len(new_answers) == len(old_answers) and not new_answers & old_answers
    assert not (new_tags | new_answers) & (old_tags | old_answers)


def _copy_database(source: Path, target: Path) -> None:
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


def test_a_peer_replaying_an_ended_epoch_is_refused_and_a_full_session_follows(
    federation: Federation, tmp_path: Path
) -> None:
    """NL keeps a copy of its store from inside the old epoch and brings it back after the roll: its delta
    names an epoch DE ended, DE refuses it, and NL opens a new epoch with a full session."""
    fed = federation
    _match(fed, NL, DE)
    _match(fed, NL, DE)
    kept = tmp_path / "nl-copy.db"
    _copy_database(fed.home(NL) / "casebridge.db", kept)
    _roll(fed, NL, "initiator")
    assert _match(fed, NL, DE)["kind"] == "full"

    _copy_database(kept, fed.home(NL) / "casebridge.db")
    replayed = _match(fed, NL, DE)
    assert replayed["kind"] == "full"
    sessions = _query(fed, DE, "SELECT kind, status, reason FROM sessions WHERE role = 'responder' ORDER BY id")
    assert sessions[-2][:2] == ("delta", "failed") and "keeps no such epoch" in sessions[-2][2]
    assert sessions[-1][:2] == ("full", "completed")


def test_an_initiator_that_lost_a_result_is_out_of_step_and_a_full_session_follows(
    federation: Federation, tmp_path: Path
) -> None:
    """DE recorded a delta whose Result never reached NL (NL's store is as before it): the two now count the
    epoch's sessions differently, DE refuses NL's next delta, and a full session puts both in step."""
    fed = federation
    _match(fed, NL, DE)
    kept = tmp_path / "nl-before.db"
    _copy_database(fed.home(NL) / "casebridge.db", kept)
    fed.cli(DE, "cases", "close", "DE-2026-PHONE")
    assert _match(fed, NL, DE)["kind"] == "delta"
    _copy_database(kept, fed.home(NL) / "casebridge.db")

    again = _match(fed, NL, DE)
    assert again["kind"] == "full" and again["intersection"] == _match(fed, NL, DE)["intersection"]
    sessions = _query(fed, DE, "SELECT kind, status, reason FROM sessions WHERE role = 'responder' ORDER BY id")
    assert sessions[-3][:2] == ("delta", "failed") and "out of step" in sessions[-3][2]
    assert [row[:2] for row in sessions[-2:]] == [("full", "completed"), ("delta", "completed")]
    assert "NL-2026-PHONE" in _current(fed, NL, "gone")


def test_a_policy_change_on_either_side_starts_a_full_session(federation: Federation) -> None:
    fed = federation
    _match(fed, NL, DE)
    assert _match(fed, NL, DE)["kind"] == "delta"

    # Our own policy for the peer changed: our epoch ends before the session.
    fed.cli(NL, "peers", "update", DE, "--daily-quota", "900000")
    assert _match(fed, NL, DE)["kind"] == "full"
    assert _epochs(fed, NL, "initiator")[0][1:3] == ("ended", CHANGED)
    assert _match(fed, NL, DE)["kind"] == "delta"

    # The peer's policy for us changed: it refuses the delta, and a full session follows at once.
    fed.cli(DE, "peers", "update", NL, "--daily-work", "4000000")
    after = _match(fed, NL, DE)
    assert after["kind"] == "full"
    de_epochs = _epochs(fed, DE, "responder")
    assert de_epochs[-2][1:3] == ("ended", CHANGED)
    assert de_epochs[-1][1] == "open"
    assert _match(fed, NL, DE)["kind"] == "delta"


def test_a_certificate_change_starts_a_full_session_both_ways(federation: Federation) -> None:
    fed = federation
    for code, peer in ((NL, DE), (DE, NL)):
        _match(fed, code, peer)
        assert _match(fed, code, peer)["kind"] == "delta"

    # DE gets a new certificate; NL pins it; DE serves with it.
    fed.loop.run(fed.servers.pop(DE).stop(0.5))
    identity = create_identity(DE, ["127.0.0.1", "localhost"], now())
    tls = fed.home(DE) / "tls"
    (tls / "node.key").write_bytes(identity.key_pem)
    (tls / "node.crt").write_bytes(identity.cert_pem)
    fed.cli(NL, "peers", "remove", DE)
    fed.cli(NL, "peers", "add", DE, "--address", "127.0.0.1:9", "--cert", str(tls / "node.crt"),
            "--types", ",".join(KEY_TYPES))  # fmt: skip
    fed.serve_in_process(DE)
    fed.publish_addresses()

    for code, peer in ((NL, DE), (DE, NL)):
        assert _match(fed, code, peer)["kind"] == "full", code
        ended = _epochs(fed, code, "initiator")[-2]
        assert ended[1:3] == ("ended", CHANGED if code == DE else "the peer was removed"), code
        assert _match(fed, code, peer)["kind"] == "delta", code


@pytest.mark.parametrize("side", [NL, DE], ids=["initiator", "responder"])
def test_a_home_restored_without_its_epoch_key_starts_a_full_session(federation: Federation, side: str) -> None:
    """The epoch's scalar no longer opens (``epoch.key`` lost, a new one made): the node ends the epoch and
    the round is a full session, on whichever side lost the key."""
    fed = federation
    assert _match(fed, NL, DE)["kind"] == "full"
    assert _match(fed, NL, DE)["kind"] == "delta"
    (fed.home(side) / "epoch.key").unlink()
    again = _match(fed, NL, DE)
    assert again["kind"] == "full" and again["intersection"] > 0
    role = "initiator" if side == NL else "responder"
    ended = [row for row in _epochs(fed, side, role) if row[1] == "ended"]
    assert len(ended) == 1 and "epoch key does not open" in ended[0][2] and ended[0][4] == 0
    assert _match(fed, NL, DE)["kind"] == "delta"
