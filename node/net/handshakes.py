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
import threading
from collections import Counter

from node.core.clock import now_iso
from node.core.errors import EXPECTED_ERRORS
from node.core.home import NodeHome
from node.store import audit as audit
from node.store import open_database, transaction

__all__ = ["HandshakeAudit", "reason_of"]

log = logging.getLogger("casebridge.server")

_REPORT = re.compile(r"Handshake failed with error")
_CODE = re.compile(r":([A-Z][A-Z0-9_]{5,})(?=:)")
_REASONS = {
    "PEER_DID_NOT_RETURN_A_CERTIFICATE": "the caller presented no client certificate",
    "CERTIFICATE_VERIFY_FAILED": "the caller's certificate is not pinned here",
}


def reason_of(line: str) -> str | None:
    """The refusal a gRPC handshake report describes, or None for any other line."""
    if _REPORT.search(line) is None:
        return None
    codes = _CODE.findall(line)
    for code in codes:
        if code in _REASONS:
            return _REASONS[code]
    return f"the TLS handshake failed ({codes[-1] if codes else 'no reason given'})"


class HandshakeAudit:
    """Tees file descriptor 2 through a pipe for as long as the node serves."""

    def __init__(self, home: NodeHome, flush_seconds: float = 5.0) -> None:
        self.home = home
        self.flush_seconds = flush_seconds
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._saved_stderr = -1
        self._reader: threading.Thread | None = None
        self._flusher: threading.Thread | None = None

    def start(self) -> None:
        read_end, write_end = os.pipe()
        self._saved_stderr = os.dup(2)
        os.dup2(write_end, 2)
        os.close(write_end)
        self._reader = threading.Thread(target=self._read, args=(read_end,), name="handshake-audit", daemon=True)
        self._flusher = threading.Thread(target=self._flush_loop, name="handshake-flush", daemon=True)
        self._reader.start()
        self._flusher.start()

    def stop(self) -> None:
        """Give standard error back, let the reader drain, and record what is still counted."""
        if self._saved_stderr < 0:
            return
        os.dup2(self._saved_stderr, 2)  # closes the pipe's last write end, so the reader sees its end
        os.close(self._saved_stderr)
        self._saved_stderr = -1
        if self._reader is not None:
            self._reader.join(5)
        self._stopped.set()
        if self._flusher is not None:
            self._flusher.join(5)
        self.flush()

    def _read(self, fd: int) -> None:
        pending = b""
        with os.fdopen(fd, "rb", buffering=0) as pipe:
            while chunk := pipe.read(65536):
                # Pass everything on first: nothing that reaches standard error may be lost or delayed.
                with contextlib.suppress(OSError):
                    os.write(self._saved_stderr, chunk)
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    reason = reason_of(line.decode("utf-8", "replace"))
                    if reason is not None:
                        with self._lock:
                            self._counts[reason] += 1

    def _flush_loop(self) -> None:
        while not self._stopped.wait(self.flush_seconds):
            self.flush()

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
