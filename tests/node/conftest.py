"""Fixtures for the node tests.

``home`` is a node home with just the federation secret, which is all import and listing need; ``pair`` (from
``disclosure_helpers``) is the requester and owner databases the disclosure rule tests share.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from tests.node.disclosure_helpers import pair

__all__ = ["home", "pair"]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    root = tmp_path / "home"
    root.mkdir()
    (root / "federation.secret").write_text(secrets.token_hex(32) + "\n", encoding="ascii")
    return root
