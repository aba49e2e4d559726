"""Console users through the operations layer, on a real node database: hashing, the login throttle,
sessions that end with a password change, and the ``[web]`` / ``[disclosure]`` config."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from node.config.settings import ConfigError, load_config, update_config
from node.core.clock import FixedClock
from node.core.errors import LocalError
from node.core.home import NodeHome
from node.ops import Operations
from node.ops import users as ops_users
from node.ops.users import MAX_FAILURES, THROTTLE_WINDOW, LoginRefused

PASSWORD = "a long console password"
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _ops(home: Path, clock: FixedClock | None = None) -> Operations:
    return Operations(NodeHome(home), "cli:test", clock or FixedClock(T0))


def _rows(home: Path, sql: str) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(home / "casebridge.db")) as db:
        return db.execute(sql).fetchall()


def test_a_password_is_kept_only_as_an_argon2id_hash(home: Path) -> None:
    ops_users.add(_ops(home), "ana", "analyst", PASSWORD)
    [(stored,)] = _rows(home, "SELECT password_hash FROM users")
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert ops_users.authenticate(_ops(home), "ana", PASSWORD).role == "analyst"
    assert [u.as_json()["name"] for u in ops_users.list_all(_ops(home))] == ["ana"]
    assert "password" not in str(ops_users.list_all(_ops(home))[0].as_json())


@pytest.mark.parametrize(
    ("name", "role", "password", "problem"),
    [
        ("Ana", "analyst", PASSWORD, "lower-case"),
        ("ana", "boss", PASSWORD, "--role"),
        ("ana", "analyst", "short", "at least 12"),
        ("ana", "analyst", " padded password ", "spaces"),
    ],
)
def test_a_bad_user_is_refused_by_name_and_nothing_is_stored(
    home: Path, name: str, role: str, password: str, problem: str
) -> None:
    with pytest.raises(LocalError, match=problem):
        ops_users.add(_ops(home), name, role, password)
    assert ops_users.list_all(_ops(home)) == []


def test_five_failures_lock_the_name_until_the_window_has_passed(home: Path) -> None:
    clock = FixedClock(T0)
    ops_users.add(_ops(home), "ana", "analyst", PASSWORD)
    for _ in range(MAX_FAILURES):
        with pytest.raises(LoginRefused) as refused:
            ops_users.authenticate(_ops(home, clock), "ana", "wrong password here")
        assert not refused.value.throttled
    with pytest.raises(LoginRefused) as locked:
        ops_users.authenticate(_ops(home, clock), "ana", PASSWORD)
    assert locked.value.throttled
    clock.at = T0 + THROTTLE_WINDOW + timedelta(seconds=1)
    assert ops_users.authenticate(_ops(home, clock), "ana", PASSWORD).name == "ana"


def test_four_failures_then_a_success_start_the_count_again(home: Path) -> None:
    ops_users.add(_ops(home), "ana", "analyst", PASSWORD)
    for _ in range(2):
        for _ in range(MAX_FAILURES - 1):
            with pytest.raises(LoginRefused):
                ops_users.authenticate(_ops(home), "ana", "wrong password here")
        ops_users.authenticate(_ops(home), "ana", PASSWORD)


def test_a_failed_login_keeps_neither_the_name_typed_nor_the_password(home: Path) -> None:
    ops_users.add(_ops(home), "ana", "analyst", PASSWORD)
    typed = "hunter2-typed-into-the-name-field"
    with pytest.raises(LoginRefused):
        ops_users.authenticate(_ops(home), typed, "another secret typed")
    dump = "\n".join("\n".join(map(str, row)) for row in _rows(home, "SELECT * FROM login_failures"))
    dump += "\n".join(str(row) for row in _rows(home, "SELECT * FROM audit"))
    assert typed not in dump and "another secret typed" not in dump


def test_a_password_change_ends_old_sessions_and_lifts_the_lock(home: Path) -> None:
    before = ops_users.add(_ops(home), "ana", "analyst", PASSWORD)
    for _ in range(MAX_FAILURES):
        with pytest.raises(LoginRefused):
            ops_users.authenticate(_ops(home), "ana", "wrong password here")
    after = ops_users.passwd(_ops(home), "ana", "a new long password")
    assert after.stamp != before.stamp  # the console compares this stamp with the one in the cookie
    assert ops_users.authenticate(_ops(home), "ana", "a new long password").stamp == after.stamp
    ops_users.remove(_ops(home), "ana")
    assert ops_users.current(_ops(home), "ana") is None
    events = [row[0] for row in _rows(home, "SELECT event FROM audit WHERE event LIKE 'user.%'")]
    assert events[:2] == ["user.added", "user.login-failed"] and events[-1] == "user.removed"


def test_the_web_and_disclosure_sections_are_read_and_checked(home: Path) -> None:
    node = NodeHome(home)
    assert load_config(node).web.listen is None and load_config(node).four_eyes is True

    def edit(document: dict[str, Any]) -> None:
        document["web"] = {"listen": "127.0.0.1:8443", "session_minutes": 60}
        document["disclosure"] = {"four_eyes": False}

    config = update_config(node, edit)
    assert str(config.web.listen) == "127.0.0.1:8443" and config.web.session_minutes == 60
    assert config.four_eyes is False
    for bad, field in (
        ({"web": {"listen": "nowhere"}}, "web.listen"),
        ({"web": {"certificate": "c.pem"}}, "web.certificate"),
        ({"web": {"colour": "red"}}, "web.colour"),
        ({"disclosure": {"four_eyes": "yes"}}, "disclosure.four_eyes"),
    ):

        def spoil(document: dict[str, Any], bad: dict[str, Any] = bad) -> None:
            document.update(bad)

        with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
            update_config(node, spoil)
    assert load_config(node).four_eyes is False  # a refused edit changed nothing
