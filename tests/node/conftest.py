"""Fixtures for the node tests.

``home`` is a node home with a config and the federation secret, which is all import and listing need (no TLS
identity: nothing here connects); ``pair`` (from
``disclosure_helpers``) is the requester and owner databases the disclosure rule tests share.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from node.config.settings import initial_document, parse_address, write_new_config
from node.core.home import NodeHome
from tests.node.disclosure_helpers import pair

__all__ = ["home", "pair"]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    root = tmp_path / "home"
    root.mkdir()
    (root / "federation.secret").write_text(secrets.token_hex(32) + "\n", encoding="ascii")
    write_new_config(NodeHome(root), initial_document("NL-NP", "eu-tht", parse_address("127.0.0.1:7443")))
    return root
