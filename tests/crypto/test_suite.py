"""The named suite: keyed hash, domain separation, negotiation."""

from __future__ import annotations

import pytest

from crypto import DEFAULT_SUITE, SUITES, CryptoUsageError, negotiate, suite_by_name

SECRET = b"s" * 32


def test_suite_name_follows_group_hash_version() -> None:
    assert DEFAULT_SUITE.name == "x25519-elligator2-sha512-v1"
    assert suite_by_name(DEFAULT_SUITE.name) is DEFAULT_SUITE


def test_keys_are_separated_by_type_and_secret() -> None:
    base = DEFAULT_SUITE.hash_keys(SECRET, [("phone", "+31612345678")])[0]
    assert DEFAULT_SUITE.hash_keys(SECRET, [("phone", "+31612345678")])[0] == base
    assert DEFAULT_SUITE.hash_keys(SECRET, [("email", "+31612345678")])[0] != base
    assert DEFAULT_SUITE.hash_keys(b"t" * 32, [("phone", "+31612345678")])[0] != base


def test_length_prefixing_prevents_ambiguous_concatenation() -> None:
    a = DEFAULT_SUITE.keyed_hash(SECRET, "ab", "c")
    b = DEFAULT_SUITE.keyed_hash(SECRET, "a", "bc")
    assert a != b


def test_short_secret_is_refused() -> None:
    with pytest.raises(CryptoUsageError):
        DEFAULT_SUITE.hash_keys(b"short", [("phone", "+31612345678")])


def test_negotiation_picks_the_first_supported_offer() -> None:
    assert negotiate(["future-suite-v9", DEFAULT_SUITE.name]) is DEFAULT_SUITE
    assert negotiate(["future-suite-v9"]) is None
    assert set(SUITES) == {DEFAULT_SUITE.name}
    with pytest.raises(CryptoUsageError):
        suite_by_name("nope")
