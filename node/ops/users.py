"""Console users: who may log in, with which role, and the login check with its throttle.

Passwords are kept only as Argon2id hashes (memory-hard: 64 MiB and three passes per guess). A name that
fails :data:`MAX_FAILURES` logins within :data:`THROTTLE_WINDOW` is refused outright, right password or not,
until the oldest of those failures leaves the window; a name that does not exist is throttled the same way,
so the answer never tells which names exist. Every user change is audited with its actor.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from node.core.errors import LocalError
from node.ops.context import Operations
from node.store import audit, reading, unit_of_work
from node.store import console as store

__all__ = [
    "MAX_FAILURES",
    "MIN_PASSWORD",
    "ROLES",
    "THROTTLE_WINDOW",
    "LoginRefused",
    "User",
    "add",
    "authenticate",
    "current",
    "list_all",
    "mark_read",
    "passwd",
    "read_alert_ids",
    "remove",
    "web_actor",
]

ROLES = ("analyst", "approver", "admin")
MAX_FAILURES = 5
THROTTLE_WINDOW = timedelta(minutes=15)
MIN_PASSWORD = 12
_NAME = re.compile(r"^[a-z][a-z0-9._-]{0,63}$")
_HASHER = PasswordHasher()  # Argon2id with the library's RFC 9106 low-memory profile
# Checked against when the name does not exist, so an unknown name costs the same time as a wrong password.
_DUMMY_HASH = _HASHER.hash("casebridge: no such user")


class LoginRefused(LocalError):
    """A login that did not succeed; the message is the same for a wrong name and a wrong password."""

    def __init__(self, message: str, *, throttled: bool = False) -> None:
        super().__init__(message)
        self.throttled = throttled


@dataclass(frozen=True)
class User:
    name: str
    role: str
    created_at: str
    # Changes whenever the password does: a login made before a password change no longer counts.
    stamp: str

    def as_json(self) -> dict[str, str]:
        return {"name": self.name, "role": self.role, "created_at": self.created_at}


def web_actor(name: str) -> str:
    """The actor audit entries name for what a console user does."""
    return f"web:{name}"


def _failure_key(name: str) -> str:
    """What failed logins are counted under: a digest of the name typed, so a password typed into the name
    field by mistake is not kept in the clear."""
    return hashlib.sha256(name.encode("utf-8", "replace")).hexdigest()


def _user(row: store.UserRecord) -> User:
    stamp = hashlib.sha256(row.password_hash.encode()).hexdigest()[:16]
    return User(row.name, row.role, row.created_at, stamp)


def _checked_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise LocalError(f"{name!r}: use lower-case letters, digits, '.', '_' or '-', starting with a letter")
    return name


def _checked_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise LocalError(f"the password must have at least {MIN_PASSWORD} characters")
    if password != password.strip() or "\n" in password:
        raise LocalError("the password must not start or end with spaces or hold a line break")
    return password


def add(ops: Operations, name: str, role: str, password: str) -> User:
    if role not in ROLES:
        raise LocalError(f"--role: expected one of {', '.join(ROLES)}")
    _checked_name(name)
    hashed = _HASHER.hash(_checked_password(password))
    with unit_of_work(ops.home) as db:
        if store.user(db, name) is not None:
            raise LocalError(f"user {name!r} already exists; change the password with 'casebridge users passwd {name}'")
        at = ops.now_iso()
        store.insert_user(db, name, role, hashed, at)
        audit.append(db, "user.added", at=at, subject=f"user:{name}", role=role, actor=ops.actor)
        row = store.user(db, name)
    assert row is not None
    return _user(row)


def passwd(ops: Operations, name: str, password: str) -> User:
    """Set a new password; the user's open console sessions end, and its failed logins are forgotten."""
    hashed = _HASHER.hash(_checked_password(password))
    with unit_of_work(ops.home) as db:
        if store.user(db, name) is None:
            raise LocalError(f"no user {name!r}; see 'casebridge users list'")
        at = ops.now_iso()
        store.set_password(db, name, hashed, at)
        store.clear_failures(db, _failure_key(name))
        audit.append(db, "user.password-changed", at=at, subject=f"user:{name}", actor=ops.actor)
        row = store.user(db, name)
    assert row is not None
    return _user(row)


def remove(ops: Operations, name: str) -> None:
    with unit_of_work(ops.home) as db:
        if not store.delete_user(db, name):
            raise LocalError(f"no user {name!r}; see 'casebridge users list'")
        audit.append(db, "user.removed", at=ops.now_iso(), subject=f"user:{name}", actor=ops.actor)


def list_all(ops: Operations) -> list[User]:
    with reading(ops.home) as db:
        return [_user(row) for row in store.users(db)]


def current(ops: Operations, name: str) -> User | None:
    """The user as stored now (None once removed): roles are read on every request, never from the cookie."""
    with reading(ops.home) as db:
        row = store.user(db, name)
    return None if row is None else _user(row)


def authenticate(ops: Operations, name: str, password: str) -> User:
    """The user whose name and password these are; :class:`LoginRefused` otherwise, each failure counted."""
    since = ops.clock.ago_iso(THROTTLE_WINDOW.total_seconds())
    key = _failure_key(name)
    with reading(ops.home) as db:
        failures = store.failures_since(db, key, since)
        row = store.user(db, name) if _NAME.fullmatch(name) else None
    if len(failures) >= MAX_FAILURES:
        # The oldest failure in the window leaves it first; until then no password is even checked.
        minutes = max(1, int(THROTTLE_WINDOW.total_seconds() // 60))
        raise LoginRefused(f"too many failed logins for this name; try again within {minutes} minutes", throttled=True)
    try:
        _HASHER.verify(row.password_hash if row is not None else _DUMMY_HASH, password)
        ok = row is not None
    except (VerificationError, InvalidHashError):
        ok = False
    at = ops.now_iso()
    with unit_of_work(ops.home) as db:
        store.forget_failures_before(db, since)
        if ok and row is not None:
            store.clear_failures(db, key)
            audit.append(db, "user.login", at=at, subject=f"user:{row.name}", actor=web_actor(row.name))
        else:  # recorded and committed before the refusal is raised
            store.add_failure(db, key, at)
            audit.append(db, "user.login-failed", at=at, known=row is not None)
    if not ok or row is None:
        raise LoginRefused("wrong user name or password")
    return _user(row)


def mark_read(ops: Operations, name: str, alert_id: int) -> None:
    with unit_of_work(ops.home) as db:
        store.mark_read(db, name, alert_id, ops.now_iso())


def read_alert_ids(ops: Operations, name: str) -> set[int]:
    with reading(ops.home) as db:
        return store.read_alert_ids(db, name)
