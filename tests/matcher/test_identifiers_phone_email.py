"""Phones and e-mail addresses: equivalence classes, near-misses, refusals."""

from __future__ import annotations

import pytest

from matcher.identifiers import Tier
from tests.matcher.identifiers_helpers import key_objects, keys, refused


@pytest.mark.parametrize(
    ("value", "region"),
    [
        ("06 1234 5678", "NL"),
        ("06-12345678", "nl"),
        ("+31 6 12345678", None),
        ("+31 (0)6 1234 5678", None),
        ("0031612345678", "NL"),
        ("+31612345678", "DE"),
    ],
)
def test_phone_formats_meet_in_e164(value: str, region: str | None) -> None:
    extra = {"region": region} if region else {}
    assert keys("phone", value, **extra) == {("phone", "+31612345678")}


def test_phone_key_is_strong() -> None:
    (key,) = key_objects("phone", "+442079460958")
    assert key.tier is Tier.STRONG


def test_phone_near_miss_differs() -> None:
    assert keys("phone", "06 1234 5679", region="NL") != keys("phone", "06 1234 5678", region="NL")
    # The same national digits in another region are another number.
    assert keys("phone", "0612345678", region="NL") != keys("phone", "0612345678", region="FR")


@pytest.mark.parametrize(
    ("value", "region", "field"),
    [
        ("06 1234 5678", None, "region"),
        ("06 1234 5678", "XX", "region"),
        ("+31 6 1234", None, "value"),
        ("12345", "NL", "value"),
        ("phone me", "NL", "value"),
        ("", "NL", "value"),
        ("+999 1234 5678", None, "value"),
    ],
)
def test_phone_refusals(value: str, region: str | None, field: str) -> None:
    extra = {"region": region} if region else {}
    refused("phone", value, field, **extra)


def test_phone_error_names_region_not_number() -> None:
    error = refused("phone", "0699 999", "value", region="NL")
    assert "NL" in str(error)
    assert "0699" not in str(error)


def test_email_trimmed_lowercased() -> None:
    assert keys("email", "  User.Name@Example.ORG ") == {("email", "user.name@example.org")}


def test_email_plain_key_is_strong_provider_key_medium() -> None:
    tiers = {k.key_type: k.tier for k in key_objects("email", "john.doe@gmail.com")}
    assert tiers == {"email": Tier.STRONG, "email-provider": Tier.MEDIUM}


@pytest.mark.parametrize(
    "value",
    ["john.doe+x@gmail.com", "johndoe@googlemail.com", "J.O.H.N.DOE@GMAIL.COM", "johndoe+spam@gmail.com"],
)
def test_gmail_aliases_share_provider_key(value: str) -> None:
    assert ("email-provider", "johndoe@gmail.com") in keys("email", value)


@pytest.mark.parametrize(
    ("value", "provider_key"),
    [
        ("first.last+shop@outlook.com", "first.last@outlook.com"),
        ("first.last+shop@hotmail.com", "first.last@hotmail.com"),
        ("name-shopping@yahoo.com", "name@yahoo.com"),
        ("name+x@protonmail.com", "name@proton.me"),
        ("name@pm.me", "name@proton.me"),
        ("name+tag@me.com", "name@icloud.com"),
        ("name+tag@fastmail.fm", "name@fastmail.com"),
    ],
)
def test_provider_rules(value: str, provider_key: str) -> None:
    assert ("email-provider", provider_key) in keys("email", value)


def test_outlook_keeps_dots() -> None:
    assert ("email-provider", "firstlast@outlook.com") not in keys("email", "first.last@outlook.com")


def test_unknown_domain_has_no_provider_key_and_keeps_tags() -> None:
    assert keys("email", "john.doe+x@example.org") == {("email", "john.doe+x@example.org")}
    assert keys("email", "john.doe+x@example.org").isdisjoint(keys("email", "johndoe@example.org"))


def test_email_near_miss() -> None:
    assert keys("email", "john.doe@gmail.com").isdisjoint(keys("email", "john.doe@gmail.co"))


@pytest.mark.parametrize(
    "value",
    [
        "",
        "no-at-sign.example.org",
        "two@@example.org",
        "a@b@example.org",
        "@example.org",
        "someone@localhost",
        "someone@.example.org",
        "someone@example..org",
        "some one@example.org",
        "someone@-example.org",
        "+tag@gmail.com",
        "x" * 250 + "@example.org",
    ],
)
def test_email_refusals(value: str) -> None:
    refused("email", value, "value")
