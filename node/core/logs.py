"""Logging for a serving node: one format, and a last-line redaction step.

The node's own log calls pass only agency codes, counts, key types and short session-id prefixes. The
filter below is the second line of defence: it blanks anything in a log record that looks like key
material or an identifier would (long hex or base64 runs, e-mail addresses, phone-like digit runs), so a
future careless log call cannot leak one.
"""

from __future__ import annotations

import logging
import re
import sys

__all__ = ["RedactingFilter", "configure_logging", "redact"]

_PATTERNS = [
    re.compile(r"[0-9a-fA-F]{24,}"),  # hex: secrets, elements, handles, fingerprints in full
    re.compile(r"[A-Za-z0-9+/=_-]{40,}"),  # base64-ish blobs
    re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+"),  # e-mail addresses
    re.compile(r"\+?\d[\d ()/-]{6,}\d"),  # phone numbers, IBAN/IMEI digit runs (dots left: IP addresses)
]


def redact(text: str) -> str:
    for pattern in _PATTERNS:
        text = pattern.sub("[redacted]", text)
    return text


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg = redact(message)
        record.args = None
        return True


def configure_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger("casebridge")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
