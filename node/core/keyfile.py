"""Node-local keys kept as one line of hex in an owner-only file, created on first use."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from node.core.errors import LocalError

__all__ = ["KEY_BYTES", "local_key"]

KEY_BYTES = 32


def local_key(path: Path, what: str) -> bytes:
    """The key in ``path``; a missing file is created with a fresh random key (mode 0600)."""
    try:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    except FileNotFoundError:
        pass
    except (ValueError, UnicodeDecodeError):
        raise LocalError(f"{path}: {what} must be hex on one line; delete it to make a new one") from None
    except OSError as exc:
        raise LocalError(f"{path}: cannot read {what} ({exc.strerror or type(exc).__name__})") from None
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        key = secrets.token_bytes(KEY_BYTES)
        handle.write(key.hex() + "\n")
    return key
