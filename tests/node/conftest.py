"""A node home for tests: just the federation secret, which is all import and listing need."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest


@pytest.fixture
def home(tmp_path: Path) -> Path:
    root = tmp_path / "home"
    root.mkdir()
    (root / "federation.secret").write_text(secrets.token_hex(32) + "\n", encoding="ascii")
    return root
