"""Match handles: the same on both sides of a pair whatever either side's history, different per pair."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from crypto import DEFAULT_SUITE, pair_handle
from crypto.errors import CryptoUsageError

ELEMENT = DEFAULT_SUITE.hash_keys(b"s" * 32, [("phone", "+31612345678")])[0]


def test_both_agencies_derive_the_same_handle() -> None:
    assert pair_handle(ELEMENT, "NL-NP", "DE-BKA") == pair_handle(ELEMENT, "DE-BKA", "NL-NP")


def test_another_pair_or_another_key_gets_another_handle() -> None:
    handle = pair_handle(ELEMENT, "NL-NP", "DE-BKA")
    assert handle != pair_handle(ELEMENT, "NL-NP", "RO-DIICOT")
    other = DEFAULT_SUITE.hash_keys(b"s" * 32, [("phone", "+31612345679")])[0]
    assert handle != pair_handle(other, "NL-NP", "DE-BKA")


def test_the_handle_is_the_documented_hmac() -> None:
    # docs/protocol.md: HMAC-SHA-256(element, lp("casebridge-handle-v2") || lp(lower) || lp(higher))[:16]
    def lp(part: bytes) -> bytes:
        return len(part).to_bytes(4, "big") + part

    expected = hmac.new(ELEMENT, lp(b"casebridge-handle-v2") + lp(b"DE-BKA") + lp(b"NL-NP"), hashlib.sha256)
    assert pair_handle(ELEMENT, "NL-NP", "DE-BKA") == expected.digest()[:16]


def test_a_handle_needs_a_whole_element() -> None:
    with pytest.raises(CryptoUsageError):
        pair_handle(ELEMENT[:31], "NL-NP", "DE-BKA")
