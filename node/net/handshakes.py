"""Refused TLS handshakes, written to the audit log.

A caller without a client certificate, or with one that is not pinned here, is refused inside the TLS
handshake: no RPC exists, so no handler can record it, and grpcio offers no hook for it. gRPC's core does
report each failed handshake on the process's standard error (``Handshake failed with error ...``). While
serving, the node routes its standard error through a pipe, passes every byte on unchanged, and counts those
reports by reason; every few seconds the counts go into the audit log as one ``session.refused`` entry per
reason (``stage: tls-handshake``), so a burst of probes cannot flood the log.

What it does not know: who the caller was. gRPC's report carries no address and no certificate, so the entry
holds the reason and the count only. If a future gRPC changes the wording, refusals are still enforced by
the handshake; only this record of them stops (the integration tests would notice).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import select
import threading
from collections import Counter

from node.core.clock import now_iso
from node.core.errors import EXPECTED_ERRORS
from node.core.home import NodeHome
from node.store import audit as audit
from node.store import open_database, transaction

__all__ = ["FLUSH_SECONDS", "HandshakeAudit", "reason_of"]

log = logging.getLogger("casebridge.server")

# How often the counts go into the audit log (``casebridge serve`` runs :meth:`HandshakeAudit.flush`).
FLUSH_SECONDS = 5.0

_REPORT = re.compile(r"Handshake failed with error")
_CODE = re.compile(r":([A-Z][A-Z0-9_]{5,})(?=:)")
_REASONS = {
    "PEER_DID_NOT_RETURN_A_CERTIFICATE": "the caller presented no client certificate",
    "CERTIFICATE_VERIFY_FAILED": "the caller's certificate is not pinned here",
}
# After CERTIFICATE_VERIFY_FAILED the report quotes the X.509 verification error. The chain is built before
# validity dates are checked, so an expiry (or a date in the future) means the certificate is one we pin.
_VERIFY_DETAIL = {
    "certificate has expired": "the caller's certificate is pinned here but has expired",
    "certificate is not yet valid": "the caller's certificate is pinned here but is not valid yet",
}


def reason_of(line: str) -> str | None:
    """The refusal a gRPC handshake report describes, or None for any other line."""
    if _REPORT.search(line) is None:
        return None
    codes = _CODE.findall(line)
    if "CERTIFICATE_VERIFY_FAILED" in codes:
        for detail, reason in _VERIFY_DETAIL.items():
            if detail in line:
                return reason
    for code in codes:
        if code in _REASONS:
            return _REASONS[code]
    return f"the TLS handshake failed ({codes[-1] if codes else 'no reason given'})"


class HandshakeAudit:
    """Tees file descriptor 2 through a pipe for as long as the node serves.

    The reader is a thread, not event-loop I/O, because gRPC's core writes to fd 2 from its own threads:
    standard error must keep flowing while the loop is busy, and after it has stopped. Start any worker
    processes before :meth:`start`, so that they keep the original fd 2 and never hold the pipe open; the
    reader still stops promptly on :meth:`stop` if something else does.
    """

    def __init__(self, home: NodeHome) -> None:
        self.home = home
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._saved_stderr = -1
        self._wake = (-1, -1)
        self._reader: threading.Thread | None = None

    def start(self) -> None:
        read_end, write_end = os.pipe()
        self._wake = os.pipe()
        self._saved_stderr = os.dup(2)
        os.dup2(write_end, 2)
        os.close(write_end)
        self._reader = threading.Thread(target=self._read, args=(read_end,), name="handshake-audit", daemon=True)
        self._reader.start()

    @property
    def is_reading(self) -> bool:
        return self._reader is not None and self._reader.is_alive()

    def stop(self) -> None:
        """Give standard error back, let the reader drain what was written, and record what is still counted."""
        if self._saved_stderr < 0:
            return
        os.dup2(self._saved_stderr, 2)  # drops this process's write end of the pipe
        os.write(self._wake[1], b"x")  # another process may hold one still: the reader must not wait for it
        if self._reader is not None:
            self._reader.join()
        for fd in (self._saved_stderr, *self._wake):
            os.close(fd)
        self._saved_stderr, self._wake = -1, (-1, -1)
        self.flush()

    def _read(self, fd: int) -> None:
        pending = b""
        try:
            waking = False
            while True:
                ready, _, _ = select.select([fd] if waking else [fd, self._wake[0]], [], [], 0 if waking else None)
                if fd not in ready:
                    if waking:
                        return  # woken and drained: everything written before stop() has been passed on
                    waking = True
                    continue
                chunk = os.read(fd, 65536)
                if not chunk:
                    return
                pending = self._pass_on(pending, chunk)
        finally:
            os.close(fd)

    def _pass_on(self, pending: bytes, chunk: bytes) -> bytes:
        """Write ``chunk`` on, count the reports among its complete lines, return the incomplete rest."""
        # Pass everything on first: nothing that reaches standard error may be lost or delayed.
        with contextlib.suppress(OSError):
            os.write(self._saved_stderr, chunk)
        *lines, rest = (pending + chunk).split(b"\n")
        for line in lines:
            reason = reason_of(line.decode("utf-8", "replace"))
            if reason is not None:
                with self._lock:
                    self._counts[reason] += 1
        return rest

    def flush(self) -> None:
        with self._lock:
            counts, self._counts = self._counts, Counter()
        if not counts:
            return
        try:
            db = open_database(self.home)
            with transaction(db):
                for reason, count in sorted(counts.items()):
                    audit.append(
                        db, "session.refused", at=now_iso(), status="UNAVAILABLE", stage="tls-handshake",
                        reason=reason, count=count,
                    )  # fmt: skip
        except EXPECTED_ERRORS as exc:
            log.warning("could not record %d refused handshake(s): %s", sum(counts.values()), exc)
