"""Shared helpers for the identifier tests."""

from __future__ import annotations

import pytest

from matcher.identifiers import (
    Identifier,
    InvalidIdentifier,
    MatchKey,
    normalize_identifier,
)


def keys(type_: str, value: str, **extra: str) -> set[tuple[str, str]]:
    """The ``(key_type, value)`` pairs of one identifier."""
    result = normalize_identifier(Identifier(type_, value, **extra))
    return {(k.key_type, k.value) for k in result.keys}


def key_objects(type_: str, value: str, **extra: str) -> tuple[MatchKey, ...]:
    return normalize_identifier(Identifier(type_, value, **extra)).keys


def refused(type_: str, value: str, field: str, **extra: str) -> InvalidIdentifier:
    """Assert the identifier is refused on ``field`` and that the message does not repeat the value."""
    with pytest.raises(InvalidIdentifier) as info:
        normalize_identifier(Identifier(type_, value, **extra))
    assert info.value.field == field, str(info.value)
    assert str(info.value) == f"{field}: {info.value.reason}"
    if len(value.strip()) >= 4:
        assert value.strip() not in str(info.value)
    return info.value
