"""Passports, identity documents, IBANs and crypto-currency addresses."""

from __future__ import annotations

import pytest

from matcher.identifiers import Tier
from tests.matcher.identifiers_helpers import key_objects, keys, refused


@pytest.mark.parametrize(
    ("value", "country"),
    [("X1234567", "ROU"), ("x 123-4567", "RO"), ("X1234567<<", "rou"), (" X/1234/567 ", " ro ")],
)
def test_passport_formats_meet(value: str, country: str) -> None:
    assert keys("passport", value, country=country) == {("passport", "ROU:X1234567")}


@pytest.mark.parametrize("country", ["D", "DE", "DEU", "d"])
def test_germany_is_d_whatever_form(country: str) -> None:
    assert keys("passport", "C01X00T47", country=country) == {("passport", "D:C01X00T47")}


@pytest.mark.parametrize("country", ["XXA", "GBD", "UNK", "EUE", "RKS", "XK"])
def test_icao_special_issuers(country: str) -> None:
    (key,) = key_objects("passport", "AB1234", country=country)
    assert key.value.endswith(":AB1234")


def test_id_document_key_type_and_tier() -> None:
    (key,) = key_objects("id_document", "123456789", country="NLD")
    assert (key.key_type, key.tier, key.value) == ("id_document", Tier.STRONG, "NLD:123456789")


def test_document_near_misses() -> None:
    base = keys("passport", "X1234567", country="ROU")
    assert keys("passport", "X1234567", country="MDA").isdisjoint(base)
    assert keys("passport", "X1234568", country="ROU").isdisjoint(base)
    # Same number, other document kind: a different key type, so it never meets a passport.
    assert keys("id_document", "X1234567", country="ROU").isdisjoint(base)


@pytest.mark.parametrize(
    ("value", "country", "field"),
    [
        ("X1234567", "", "country"),
        ("X1234567", "ZZZ", "country"),
        ("X1234567", "R0U", "country"),
        ("X1234567", "ROMANIA", "country"),
        ("X12345É7", "ROU", "value"),
        ("X1234_567", "ROU", "value"),
        ("A" * 21, "ROU", "value"),
        (" -<< ", "ROU", "value"),
    ],
)
def test_document_refusals(value: str, country: str, field: str) -> None:
    refused("passport", value, field, country=country)


def test_document_country_is_required() -> None:
    refused("id_document", "X1234567", "country")


@pytest.mark.parametrize(
    "value", ["NL91ABNA0417164300", "NL91 ABNA 0417 1643 00", "nl91abna0417164300", " NL91-ABNA-0417-1643-00"]
)
def test_iban_formats_meet(value: str) -> None:
    assert keys("iban", value) == {("iban", "NL91ABNA0417164300")}


@pytest.mark.parametrize(
    "value",
    [
        "NL91ABNA0417164301",
        "NL19ABNA0417164300",
        "NL91ABNA041716430",
        "XX91ABNA0417164300",
        "",
        "iban please",
    ],
)
def test_iban_refusals(value: str) -> None:
    refused("iban", value, "value")


BECH32 = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
TAPROOT = "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0"
BASE58 = "1NEDqZPvTWRaoho48qXuLLsrYomMXPABfD"
ETH = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"


@pytest.mark.parametrize("value", [BECH32, BECH32.upper(), f"  {BECH32} "])
def test_bech32_lowercased(value: str) -> None:
    assert keys("crypto", value) == {("crypto", f"btc:{BECH32}")}


def test_bech32m_taproot() -> None:
    assert keys("crypto", TAPROOT) == {("crypto", f"btc:{TAPROOT}")}


def test_base58_exact_case() -> None:
    assert keys("crypto", BASE58) == {("crypto", f"btc:{BASE58}")}
    refused("crypto", BASE58.lower(), "value")


@pytest.mark.parametrize(
    "value", [ETH, ETH.lower(), "0x" + ETH[2:].upper(), "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359".lower()]
)
def test_ethereum_forms(value: str) -> None:
    (key,) = key_objects("crypto", value)
    assert key.value == "eth:" + value.lower()
    assert key.tier is Tier.STRONG


@pytest.mark.parametrize(
    "value",
    [
        ETH[:-1] + "D",  # one letter's case flipped: EIP-55 fails
        ETH[:-1],
        ETH + "0",
        "0x" + "g" * 40,
        BECH32[:-1] + "5",
        "bc1Qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",  # mixed case is not bech32
        # A taproot program under the old bech32 checksum (BIP-350 test vector): refused.
        "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd",
        BASE58[:-1] + "X",
        "ltc1qsomething",
        "",
    ],
)
def test_crypto_refusals(value: str) -> None:
    refused("crypto", value, "value")
