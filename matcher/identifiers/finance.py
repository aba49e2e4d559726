"""Money trails: IBANs (``stdnum.iban``) and crypto-currency addresses (Bitcoin, Ethereum)."""

from __future__ import annotations

from Crypto.Hash import keccak
from stdnum import bitcoin, iban
from stdnum.exceptions import InvalidChecksum, ValidationError

from matcher.identifiers.model import Identifier, InvalidIdentifier, MatchKey, Normalized, Tier

__all__ = ["normalize_crypto", "normalize_iban"]


def normalize_iban(identifier: Identifier) -> Normalized:
    """Compact, upper-cased IBAN whose ISO 7064 checksum and national BBAN format both check out."""
    if not identifier.value.strip():
        raise InvalidIdentifier("value", "empty IBAN")
    try:
        compact = str(iban.validate(identifier.value))
    except InvalidChecksum:
        raise InvalidIdentifier("value", "IBAN checksum does not match: a character is probably mistyped") from None
    except ValidationError:
        raise InvalidIdentifier("value", "not a valid IBAN for its country (length or format)") from None
    return Normalized("iban", compact, (MatchKey("iban", Tier.STRONG, compact),))


# BIP-173 / BIP-350: the polymod constant that ends a valid bech32 (witness v0) or bech32m (v1+) string.
_BECH32_CONST = 1
_BECH32M_CONST = 0x2BC830A3
_BECH32_ALPHABET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _segwit(address: str) -> str:
    if address != address.lower() and address != address.upper():
        raise InvalidIdentifier("value", "a bc1 address must be all lower case or all upper case")
    address = address.lower()
    if len(address) > 90 or len(address) < 14:
        raise InvalidIdentifier("value", "a bc1 address has the wrong length")
    data_part = address[3:]
    if any(c not in _BECH32_ALPHABET for c in data_part):
        raise InvalidIdentifier("value", "a bc1 address holds a character outside the bech32 alphabet")
    data = [_BECH32_ALPHABET.index(c) for c in data_part]
    const = bitcoin.bech32_checksum(_hrp_expand("bc") + data)
    version = data[0]
    if const not in (_BECH32_CONST, _BECH32M_CONST):
        raise InvalidIdentifier("value", "bc1 address checksum does not match: a character is probably mistyped")
    if (version == 0) != (const == _BECH32_CONST):
        raise InvalidIdentifier("value", "bc1 address uses the wrong checksum kind for its witness version")
    try:
        program = bitcoin.b32decode(data[1:-6])
    except ValidationError:
        raise InvalidIdentifier("value", "bc1 address has invalid padding") from None
    if version > 16 or not 2 <= len(program) <= 40 or (version == 0 and len(program) not in (20, 32)):
        raise InvalidIdentifier("value", "bc1 address has an invalid witness version or program length")
    return address


def _base58(address: str) -> str:
    try:
        return str(bitcoin.validate(address))
    except InvalidChecksum:
        raise InvalidIdentifier(
            "value", "Bitcoin address checksum does not match: check every character and its case"
        ) from None
    except ValidationError:
        raise InvalidIdentifier("value", "not a valid Bitcoin address (length or characters)") from None


def _eip55(hex_digits: str) -> str:
    lower = hex_digits.lower()
    digest = keccak.new(digest_bits=256, data=lower.encode("ascii")).hexdigest()
    return "".join(c.upper() if int(h, 16) >= 8 else c for c, h in zip(lower, digest, strict=False))


def _ethereum(address: str) -> str:
    digits = address[2:]
    if len(digits) != 40 or any(c not in "0123456789abcdefABCDEF" for c in digits):
        raise InvalidIdentifier("value", "an Ethereum address is 0x followed by 40 hexadecimal digits")
    mixed = digits != digits.lower() and digits != digits.upper()
    if mixed and digits != _eip55(digits):
        raise InvalidIdentifier(
            "value", "Ethereum address fails its EIP-55 mixed-case checksum: a character is probably mistyped"
        )
    return "0x" + digits.lower()


def normalize_crypto(identifier: Identifier) -> Normalized:
    """``btc:<address>`` or ``eth:<address>``, checksum-validated.

    Bitcoin mainnet only: base58 (``1…``/``3…``) kept in exact case, since case carries the value;
    bech32/bech32m (``bc1…``) lower-cased, with the checksum kind matched to the witness version (BIP-350).
    Ethereum: ``0x`` + 40 hex digits, lower-cased; a mixed-case address must pass EIP-55.
    """
    address = "".join(identifier.value.split())
    if not address:
        raise InvalidIdentifier("value", "empty crypto-currency address")
    if address[:2] in ("0x", "0X"):
        chain, canonical = "eth", _ethereum(address)
    elif address[:3].lower() == "bc1":
        chain, canonical = "btc", _segwit(address)
    elif address[0] in "13":
        chain, canonical = "btc", _base58(address)
    else:
        raise InvalidIdentifier(
            "value", "unsupported address: expected Bitcoin mainnet (1…, 3…, bc1…) or Ethereum (0x…)"
        )
    value = f"{chain}:{canonical}"
    return Normalized("crypto", value, (MatchKey("crypto", Tier.STRONG, value),))
