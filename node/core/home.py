"""The node home: where one agency's config, keys, secret and database live.

Layout (created by ``casebridge init``)::

    <home>/casebridge.toml      config (agency, federation, listen address, peers, policy)
    <home>/federation.secret    the federation secret (owner-only; shared out of band with peers)
    <home>/tls/node.key         the node's TLS private key (owner-only)
    <home>/tls/node.crt         the node's TLS certificate, carrying the agency code
    <home>/casebridge.db        SQLite database (WAL)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from node.core.errors import LocalError

__all__ = ["NodeHome"]


@dataclass(frozen=True)
class NodeHome:
    root: Path

    @property
    def config(self) -> Path:
        return self.root / "casebridge.toml"

    @property
    def federation_secret(self) -> Path:
        return self.root / "federation.secret"

    @property
    def tls_dir(self) -> Path:
        return self.root / "tls"

    @property
    def tls_key(self) -> Path:
        return self.tls_dir / "node.key"

    @property
    def tls_cert(self) -> Path:
        return self.tls_dir / "node.crt"

    @property
    def database(self) -> Path:
        return self.root / "casebridge.db"

    def read_federation_secret(self) -> bytes:
        """The secret's raw bytes; the file holds it hex-encoded on one line."""
        path = self.federation_secret
        try:
            text = path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            raise LocalError(f"{path}: no federation secret; run 'casebridge init' first") from None
        except UnicodeDecodeError:
            raise LocalError(f"{path}: the federation secret must be hex on one line") from None
        except OSError as exc:
            raise LocalError(
                f"{path}: cannot read the federation secret ({exc.strerror or type(exc).__name__})"
            ) from None
        try:
            secret = bytes.fromhex(text)
        except ValueError:
            raise LocalError(f"{path}: the federation secret must be hex on one line") from None
        if len(secret) < 32:
            raise LocalError(f"{path}: the federation secret must hold at least 32 bytes")
        return secret
