"""Properties: idempotence, separators never reach keys, errors never echo the value, name order."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from stdnum import iban

from matcher.identifiers import (
    IDENTIFIER_TYPES,
    Identifier,
    InvalidIdentifier,
    Person,
    normalize_identifier,
    normalize_person,
)

REGIONS = sorted(r for r in phonenumbers.SUPPORTED_REGIONS if phonenumbers.example_number(r) is not None)
SEPARATORS = st.sampled_from([" ", "-", ".", "  "])


@given(
    st.sampled_from(REGIONS),
    st.sampled_from([phonenumbers.PhoneNumberFormat.NATIONAL, phonenumbers.PhoneNumberFormat.INTERNATIONAL]),
)
def test_phone_idempotent_from_any_format(region: str, fmt: int) -> None:
    example = phonenumbers.example_number(region)
    assert example is not None
    written = phonenumbers.format_number(example, fmt)
    first = normalize_identifier(Identifier("phone", written, region=region))
    again = normalize_identifier(Identifier("phone", first.canonical))
    assert again == first
    if any(c in written for c in " -()"):
        assert written not in first.canonical


@given(st.emails())
def test_email_idempotent(address: str) -> None:
    try:
        first = normalize_identifier(Identifier("email", address))
    except InvalidIdentifier:
        assume(False)
        raise
    assert normalize_identifier(Identifier("email", first.canonical)) == first
    assert normalize_identifier(Identifier("email", f"  {address.upper()} ")) == first


@st.composite
def ibans(draw: st.DrawFn) -> str:
    bank = draw(st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=4, max_size=4))
    account = draw(st.text("0123456789", min_size=10, max_size=10))
    bban = bank + account
    return "NL" + iban.calc_check_digits("NL00" + bban) + bban


@given(ibans(), SEPARATORS)
def test_iban_idempotent_and_separators_gone(number: str, sep: str) -> None:
    written = sep.join(number[i : i + 4] for i in range(0, len(number), 4)).lower()
    first = normalize_identifier(Identifier("iban", written))
    assert first.canonical == number
    assert written not in first.canonical
    assert normalize_identifier(Identifier("iban", first.canonical)) == first


@given(st.text("ABCDEFGHJKLMNPRSTUVWXYZ0123456789", min_size=2, max_size=9), SEPARATORS)
def test_document_and_plate_separators_never_in_keys(body: str, sep: str) -> None:
    written = sep.join(body)
    for type_ in ("passport", "plate"):
        result = normalize_identifier(Identifier(type_, written, country="NL"))
        assert all(written not in k.value for k in result.keys)
        assert all(sep.strip() not in k.value.split(":", 1)[1] for k in result.keys if sep.strip())
        again = normalize_identifier(Identifier(type_, result.canonical.split(":", 1)[1], country="NL"))
        assert again == result


MARKER = "Qz7~"


@pytest.mark.parametrize("type_", sorted(IDENTIFIER_TYPES))
@given(tail=st.text(min_size=0, max_size=30))
def test_errors_never_echo_the_value(type_: str, tail: str) -> None:
    value = MARKER + tail
    try:
        normalize_identifier(Identifier(type_, value, region="NL", country="NL", platform="instagram"))
    except InvalidIdentifier as exc:
        assert value not in str(exc)
        assert MARKER not in str(exc)
        assert exc.field in {"value", "region", "country", "platform", "type"}


@given(
    st.lists(st.sampled_from(["Иван", "Петров", "Сергеевич", "José", "Núñez", "Müller"]), min_size=1, max_size=4),
    st.randoms(),
)
def test_name_order_does_not_matter(tokens: list[str], rnd: object) -> None:
    shuffled = list(tokens)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    a = normalize_person(Person(" ".join(tokens), "1985-03-07"))
    b = normalize_person(Person(" ".join(shuffled), "1985-03-07"))
    assert a == b


@given(st.text(max_size=40), st.dates().map(lambda d: d.isoformat()))
def test_person_never_crashes_and_keys_carry_dob(name: str, dob: str) -> None:
    try:
        result = normalize_person(Person(name, dob))
    except InvalidIdentifier as exc:
        assert exc.field in {"name", "dob"}
        return
    assert all(k.value.rsplit("|", 1)[1].startswith(dob[:4]) for k in result.keys)


def test_every_key_type_has_the_tier_its_normaliser_gives() -> None:
    from matcher.identifiers import KEY_TIERS, KEY_TYPES, Identifier, Person, normalize_identifier, normalize_person

    samples = [
        Identifier("phone", "+31 6 12345678"),
        Identifier("email", "a.b+x@gmail.com"),
        Identifier("passport", "NX1234567", country="NL"),
        Identifier("id_document", "AB1234567", country="DE"),
        Identifier("iban", "NL91ABNA0417164300"),
        Identifier("imei", "490154203237518"),
        Identifier("crypto", "1BoatSLRHtKNngkdXEeobR76b53LETtpyT"),
        Identifier("plate", "AB-123-C", country="NL"),
        Identifier("social", "someone", platform="instagram"),
    ]
    keys = [k for i in samples for k in normalize_identifier(i).keys]
    keys += list(normalize_person(Person("Anna Maria Novak", "1990-03-04")).keys)
    seen = {k.key_type: k.tier for k in keys}
    assert set(seen) == set(KEY_TYPES)
    assert seen == KEY_TIERS
