"""What an epoch's full session has blinded so far, kept so that its retry does not blind it again.

A full session over large sets spends nearly all its time multiplying points by our scalar: our own
elements, and the peer's. When such a session is cut (a restart, a lost connection, the peer killed), the
next round runs the full session again. Each side keeps an *attempt* for it, per peer and role, in
``<home>/attempts/<peer>.<role>`` (owner-only):

* our scalar and the seed our canaries are drawn from, sealed under ``<home>/epoch.key`` and bound to the
  peer, the role and the epoch's binding (:func:`node.matching.epochs.binding`);
* every ``(point, point times our scalar)`` pair computed so far, appended as it is computed.

The retry takes the attempt up again: the same scalar, so every point already multiplied is looked up
instead of multiplied again, and -- as the responder -- the same canaries, so that comparing what the two
attempts sent cannot tell the canaries from our elements. What the peer already had from us it gets again,
unchanged: it can link the two attempts as it links the rounds of an epoch, and no further. An attempt is
taken up only while its binding holds and until the epoch it would have opened would have ended
(``[policy] epoch`` days after it began); a session outside any epoch (``epoch = "none"``) keeps none.
It is destroyed when its session completes, when the peer misbehaves in it, and when the policy keeps no
epochs with the peer.

One session holds an attempt at a time (an exclusive ``flock``); another session with the same peer and
role meanwhile runs as a fresh attempt of its own that keeps nothing.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import struct
import threading
from collections.abc import Sequence
from datetime import timedelta
from typing import BinaryIO

from crypto import BlindingKey
from matcher.psi import Blinder
from node.core.clock import now, now_iso
from node.core.errors import LocalError
from node.core.home import NodeHome
from node.core.sealing import seal, sealing_key, unseal

__all__ = ["Attempt", "discard_attempt", "take_attempt"]

log = logging.getLogger("casebridge.session")

MAGIC = b"casebridge attempt v1\n"
# The most pairs an attempt keeps (64 bytes each on disk, about 170 in memory when taken up): a session
# beyond it keeps its first pairs only and multiplies the rest again on a retry.
MAX_PAIRS = 2_000_000
SEED_BYTES = 32
_SCALAR_BYTES = 32
_LENGTH = struct.Struct(">I")


class _SeededBytes:
    """Bytes drawn in order from SHAKE-256 of a seed: the same canaries again on every retry."""

    def __init__(self, seed: bytes) -> None:
        self._seed = seed
        self._used = 0

    def __call__(self, count: int) -> bytes:
        out = hashlib.shake_256(self._seed).digest(self._used + count)[self._used :]
        self._used += count
        return out


def _path(home: NodeHome, peer: str, role: str) -> str:
    return str(home.root / "attempts" / f"{peer}.{role}")


def _bound_to(peer: str, role: str, binding: str) -> bytes:
    return f"casebridge attempt|{peer}|{role}|{binding}".encode()


class Attempt:
    """An attempt held by one session: its scalar, its canary seed and the points multiplied under it."""

    def __init__(self, path: str, handle: BinaryIO, key: BlindingKey, seed: bytes, ends_at: str,
                 known: dict[bytes, bytes]) -> None:  # fmt: skip
        self.key = key
        self.ends_at = ends_at
        self.resumed = bool(known)
        self.reused = 0
        self.computed = 0
        self._path = path
        self._handle = handle
        self._seed = seed
        self._known = known
        self._kept = len(known)
        self._lock = threading.Lock()
        self._busy = 0
        self._closing = False
        self._delete = False  # on closing, whether the file goes with it

    def canary_random(self) -> _SeededBytes:
        return _SeededBytes(self._seed)

    def blinder(self, inner: Blinder) -> Blinder:
        """``inner``, remembering what it computes under our scalar and looking up what it computed before."""

        def blind(key: BlindingKey, batch: Sequence[bytes]) -> list[bytes]:
            if key is not self.key:
                return inner(key, batch)
            with self._lock:
                if self._closing:
                    return inner(key, batch)
                self._busy += 1
            try:
                return self._blind(inner, key, batch)
            finally:
                self._release()

        return blind

    def _blind(self, inner: Blinder, key: BlindingKey, batch: Sequence[bytes]) -> list[bytes]:
        known = self._known
        missing = [point for point in batch if point not in known] if known else list(batch)
        fresh = inner(key, missing) if missing else []
        with self._lock:
            room = max(0, MAX_PAIRS - self._kept)
            if room:
                kept = list(zip(missing[:room], fresh[:room], strict=True))
                try:
                    self._handle.write(b"".join(p + q for p, q in kept))
                    self._handle.flush()
                    self._kept += len(kept)
                except OSError as exc:  # a full disk, say: the session goes on, keeping no more
                    log.warning("the attempt file can take no more (%s); a retry multiplies the rest again",
                                exc.strerror or type(exc).__name__)  # fmt: skip
                    self._kept = MAX_PAIRS
            self.computed += len(missing)
            self.reused += len(batch) - len(missing)
        if not known:
            return fresh
        found = dict(zip(missing, fresh, strict=True))
        return [known.get(point) or found[point] for point in batch]

    def _release(self) -> None:
        with self._lock:
            self._busy -= 1
            last = self._closing and not self._busy
        if last:
            self._shut()

    def keep(self) -> None:
        """The session ended without completing: keep the attempt for the next one (once in-flight work is in)."""
        self._end(delete=False)

    def destroy(self) -> None:
        """The attempt is of no further use: delete it (once in-flight work is in)."""
        self._end(delete=True)

    def _end(self, *, delete: bool) -> None:
        with self._lock:
            if self._closing:
                return
            self._closing, self._delete = True, delete
            idle = not self._busy
        if idle:
            self._shut()

    def _shut(self) -> None:
        if self._delete:
            with contextlib.suppress(OSError):
                self._handle.truncate(0)  # a session that opened the file before the unlink finds nothing
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._path)
        self._handle.close()  # releases the lock


def take_attempt(home: NodeHome, peer: str, role: str, binding: str, days: int, width: int) -> Attempt | None:
    """Take up the kept attempt with ``peer`` in ``role`` when it is still good, else begin a new one;
    None when another session holds it."""
    path = _path(home, peer, role)
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    handle = os.fdopen(os.open(path, os.O_RDWR | os.O_CREAT, 0o600), "r+b")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        if not _still_there(handle, path):  # destroyed by the session that held it while we waited to lock
            handle.close()
            return None
        return _begin(home, path, handle, peer, role, binding, days, width)
    except BlockingIOError:
        handle.close()
        return None
    except BaseException:
        handle.close()
        raise


def _still_there(handle: BinaryIO, path: str) -> bool:
    try:
        named = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(handle.fileno())
    return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino) and held.st_nlink > 0


def _begin(home: NodeHome, path: str, handle: BinaryIO, peer: str, role: str, binding: str, days: int,
           width: int) -> Attempt:  # fmt: skip
    try:
        kept = _read(home, handle, peer, role, binding, width)
    except LocalError as exc:
        log.warning("the kept attempt with %s (%s) cannot be taken up: %s; beginning anew", peer, role, exc)
        kept = None
    if kept is not None:
        key, seed, ends_at, known = kept
        log.info("the full session with %s (%s) takes up an interrupted attempt: %d points already multiplied",
                 peer, role, len(known))  # fmt: skip
        return Attempt(path, handle, key, seed, ends_at, known)
    key, seed = BlindingKey.generate(os.urandom), os.urandom(SEED_BYTES)
    ends_at = (now() + timedelta(days=days)).isoformat(timespec="seconds")
    header = json.dumps({"ends_at": ends_at, "width": width}).encode()
    sealed = seal(sealing_key(home), key.secret_bytes() + seed, _bound_to(peer, role, binding))
    handle.seek(0)
    handle.truncate()
    handle.write(MAGIC + _LENGTH.pack(len(header)) + header + _LENGTH.pack(len(sealed)) + sealed)
    handle.flush()
    return Attempt(path, handle, key, seed, ends_at, {})


def _read(
    home: NodeHome, handle: BinaryIO, peer: str, role: str, binding: str, width: int
) -> tuple[BlindingKey, bytes, str, dict[bytes, bytes]] | None:
    """The kept attempt in ``handle`` (left positioned after its last whole pair), or None when there is
    none worth taking up."""
    data = handle.read()
    if not data:
        return None
    if not data.startswith(MAGIC):
        raise LocalError("it is not an attempt file")
    try:
        at = len(MAGIC)
        (size,) = _LENGTH.unpack_from(data, at)
        header = json.loads(data[at + 4 : at + 4 + size])
        at += 4 + size
        (sealed_size,) = _LENGTH.unpack_from(data, at)
        sealed = data[at + 4 : at + 4 + sealed_size]
        at += 4 + sealed_size
        ends_at, kept_width = str(header["ends_at"]), int(header["width"])
    except (struct.error, ValueError, KeyError, TypeError):
        raise LocalError("its header is damaged") from None
    if kept_width != width or now_iso() >= ends_at:
        return None
    try:
        secret = unseal(sealing_key(home), sealed, _bound_to(peer, role, binding))
    except LocalError:
        return None  # bound to another binding (a certificate, the secret or the policy changed), or another key
    pair = 2 * width
    whole = at + min((len(data) - at) // pair, MAX_PAIRS) * pair
    known = {data[i : i + width]: data[i + width : i + pair] for i in range(at, whole, pair)}
    handle.seek(whole)
    handle.truncate()  # a pair cut short by the interruption is dropped
    return BlindingKey(secret[:_SCALAR_BYTES]), secret[_SCALAR_BYTES:], ends_at, known


def discard_attempt(home: NodeHome, peer: str, role: str) -> None:
    """Delete the kept attempt with ``peer`` in ``role``, unless a session holds it now."""
    path = _path(home, peer, role)
    try:
        handle = open(path, "r+b")  # noqa: SIM115 -- closed below, after the lock
    except FileNotFoundError:
        return
    with handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return
        os.unlink(path)
