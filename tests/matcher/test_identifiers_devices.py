"""IMEIs, plates, social handles and the dispatcher."""

from __future__ import annotations

import pytest

from matcher.identifiers import IDENTIFIER_TYPES, KEY_TYPES, Identifier, Tier, normalize_identifier
from tests.matcher.identifiers_helpers import key_objects, keys, refused


@pytest.mark.parametrize(
    "value",
    ["352099001761481", "35-209900-176148-1", "35 209900 176148 23", "35209900176148", "3520990017614800"],
)
def test_imei_and_imeisv_meet(value: str) -> None:
    assert keys("imei", value) == {("imei", "35209900176148")}


@pytest.mark.parametrize("value", ["352099001761482", "3520990017614", "35209900176148123", "35209900176148A", ""])
def test_imei_refusals(value: str) -> None:
    refused("imei", value, "value")


@pytest.mark.parametrize(
    ("value", "country"),
    [("AB-123-C", "NL"), ("ab 123 c", "nl"), ("AB.123.C", "NLD"), ("AB·123·C", "NL")],
)
def test_plate_formats_meet(value: str, country: str) -> None:
    assert keys("plate", value, country=country) == {("plate", "NL:AB123C")}


def test_plate_tier_is_medium() -> None:
    (key,) = key_objects("plate", "AB-123-C", country="NL")
    assert key.tier is Tier.MEDIUM


def test_cyrillic_plate_letters_read_as_their_latin_lookalikes() -> None:
    assert keys("plate", "А 123 ВС 77", country="RU") == keys("plate", "A123BC77", country="RUS")
    assert keys("plate", "ΙΚΑ-1234", country="GR") == {("plate", "GR:IKA1234")}


@pytest.mark.parametrize(("sign", "iso"), [("D", "DE"), ("DE", "DE"), ("DEU", "DE"), ("UK", "GB"), ("I", "IT")])
def test_plate_distinguishing_signs(sign: str, iso: str) -> None:
    assert keys("plate", "M-AB 123", country=sign) == {("plate", f"{iso}:MAB123")}


def test_plate_near_misses() -> None:
    base = keys("plate", "AB-123-C", country="NL")
    assert keys("plate", "AB-123-C", country="BE").isdisjoint(base)
    assert keys("plate", "AB-123-D", country="NL").isdisjoint(base)


@pytest.mark.parametrize(
    ("value", "country", "field"),
    [
        ("AB-123-C", "", "country"),
        ("AB-123-C", "QQ", "country"),
        ("AB#12", "NL", "value"),
        ("--", "NL", "value"),
    ],
)
def test_plate_refusals(value: str, country: str, field: str) -> None:
    refused("plate", value, field, country=country)


@pytest.mark.parametrize(
    ("value", "platform"),
    [
        ("@Some.Handle", "instagram"),
        ("some.handle", "Instagram"),
        ("https://www.instagram.com/Some.Handle/", "instagram"),
        ("instagram.com/some.handle?hl=en", "instagram"),
    ],
)
def test_social_forms_meet(value: str, platform: str) -> None:
    assert keys("social", value, platform=platform) == {("social", "instagram:some.handle")}


def test_twitter_is_x() -> None:
    assert keys("social", "https://twitter.com/Someone", platform="twitter") == {("social", "x:someone")}
    assert keys("social", "@someone", platform="x") == {("social", "x:someone")}


def test_social_url_shapes() -> None:
    assert keys("social", "https://www.tiktok.com/@Some_User", platform="tiktok") == {("social", "tiktok:some_user")}
    assert keys("social", "https://t.me/SomeUser", platform="telegram") == {("social", "telegram:someuser")}
    assert keys("social", "https://www.facebook.com/profile.php?id=100012", platform="facebook") == {
        ("social", "facebook:100012")
    }


def test_social_near_miss_other_platform() -> None:
    assert keys("social", "someone", platform="instagram").isdisjoint(keys("social", "someone", platform="tiktok"))


@pytest.mark.parametrize(
    ("value", "platform", "field"),
    [
        ("someone", "", "platform"),
        ("someone", "myspace", "platform"),
        ("https://www.tiktok.com/@someone", "instagram", "value"),
        ("some one", "instagram", "value"),
        ("@", "instagram", "value"),
        ("https://instagram.com/", "instagram", "value"),
    ],
)
def test_social_refusals(value: str, platform: str, field: str) -> None:
    refused("social", value, field, platform=platform)


def test_unknown_type_refused() -> None:
    refused("fax", "12345678", "type")


def test_every_emitted_key_type_is_declared() -> None:
    samples = [
        Identifier("phone", "+31612345678"),
        Identifier("email", "a.b+c@gmail.com"),
        Identifier("passport", "X1", country="RO"),
        Identifier("id_document", "X1", country="RO"),
        Identifier("iban", "NL91ABNA0417164300"),
        Identifier("imei", "352099001761481"),
        Identifier("crypto", "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"),
        Identifier("plate", "AB1", country="NL"),
        Identifier("social", "a", platform="vk"),
    ]
    assert {s.type for s in samples} == IDENTIFIER_TYPES
    for sample in samples:
        result = normalize_identifier(sample)
        assert result.type == sample.type
        assert result.keys
        assert all(k.key_type in KEY_TYPES for k in result.keys)
