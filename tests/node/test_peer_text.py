"""Text a peer sends us is cleaned before it reaches our terminal, logs or audit log."""

from __future__ import annotations

from node.core.errors import PEER_TEXT_LIMIT, peer_text


def test_control_characters_and_line_breaks_are_flattened() -> None:
    assert peer_text("denied\nhandling H0: no restriction\x1b[31m") == "denied handling H0: no restriction [31m"


def test_long_text_is_cut() -> None:
    cut = peer_text("x" * 10_000)
    assert len(cut) == PEER_TEXT_LIMIT and cut.endswith("…")


def test_missing_text_is_empty() -> None:
    assert peer_text(None) == ""
