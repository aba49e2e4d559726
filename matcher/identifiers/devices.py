"""Handsets (IMEI), vehicles (plates) and social-media accounts."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from anyascii import anyascii
from stdnum import luhn

from matcher.identifiers.countries import plate_country
from matcher.identifiers.model import Identifier, InvalidIdentifier, MatchKey, Normalized, Tier

__all__ = ["normalize_imei", "normalize_plate", "normalize_social"]

_IMEI_SEPARATORS = frozenset(" \t-/.")


def normalize_imei(identifier: Identifier) -> Normalized:
    """The 14-digit TAC + serial, so an IMEI (15 digits, Luhn-checked) and an IMEISV (16) of one handset meet.

    A bare 14-digit value is taken as TAC + serial. The check digit (IMEI) and software version (IMEISV)
    say nothing about which handset it is, so they are dropped from the key.
    """
    digits = "".join(c for c in identifier.value.strip() if c not in _IMEI_SEPARATORS)
    if not digits:
        raise InvalidIdentifier("value", "empty IMEI")
    if not digits.isascii() or not digits.isdigit():
        raise InvalidIdentifier("value", "an IMEI holds digits only")
    if len(digits) == 15 and not luhn.is_valid(digits):
        raise InvalidIdentifier("value", "IMEI check digit does not match: a digit is probably mistyped")
    if len(digits) not in (14, 15, 16):
        raise InvalidIdentifier("value", "an IMEI has 15 digits (14 without check digit, 16 for an IMEISV)")
    core = digits[:14]
    return Normalized("imei", core, (MatchKey("imei", Tier.STRONG, core),))


# Plates in Cyrillic and Greek use only letters that look like Latin ones, and cross-border records write
# them as those Latin letters (Cyrillic Н as H, not as its sound N). Letters outside these sets fall back to
# ordinary transliteration.
_PLATE_LOOKALIKES = str.maketrans(
    "АВЕКМНОРСТУХІ" + "ΑΒΕΖΗΙΚΜΝΟΡΤΥΧ",
    "ABEKMHOPCTYXI" + "ABEZHIKMNOPTYX",
)
_PLATE_SEPARATORS = frozenset(" \t-.·•‧/_–—")
_PLATE_MAX = 15


def normalize_plate(identifier: Identifier) -> Normalized:
    """``"<ISO alpha-2>:<plate>"``: separators removed, upper-cased, look-alike letters mapped to Latin.

    The key is **medium**, not strong: a plate names a registration, not a vehicle or a person; plates are
    reissued, transferred and cloned. Diacritics are folded (German ``Ö`` becomes ``O``), so a plate typed
    with and without its umlaut meets; one written ``OE`` does not.
    """
    country = plate_country(identifier.country)
    text = identifier.value.strip().upper().translate(_PLATE_LOOKALIKES)
    text = "".join(c for c in text if c not in _PLATE_SEPARATORS)
    plate = anyascii(text).upper()
    if not plate:
        raise InvalidIdentifier("value", "empty plate")
    if not plate.isascii() or not plate.isalnum():
        raise InvalidIdentifier("value", "a plate may hold only letters and digits besides separators")
    if len(plate) > _PLATE_MAX:
        raise InvalidIdentifier("value", f"a plate has at most {_PLATE_MAX} letters and digits")
    canonical = f"{country}:{plate}"
    return Normalized("plate", canonical, (MatchKey("plate", Tier.MEDIUM, canonical),))


# Platform -> web hosts whose profile URLs reduce to a handle.
_PLATFORM_HOSTS: dict[str, frozenset[str]] = {
    "instagram": frozenset({"instagram.com", "instagr.am"}),
    "facebook": frozenset({"facebook.com", "fb.com", "m.facebook.com"}),
    "tiktok": frozenset({"tiktok.com"}),
    "telegram": frozenset({"t.me", "telegram.me", "telegram.dog"}),
    "whatsapp": frozenset({"wa.me"}),
    "x": frozenset({"x.com", "twitter.com", "mobile.twitter.com"}),
    "snapchat": frozenset({"snapchat.com"}),
    "vk": frozenset({"vk.com", "m.vk.com"}),
    "onlyfans": frozenset({"onlyfans.com"}),
    "signal": frozenset(),
    "youtube": frozenset({"youtube.com", "m.youtube.com"}),
    "reddit": frozenset({"reddit.com", "old.reddit.com"}),
    "linkedin": frozenset({"linkedin.com"}),
    "threads": frozenset({"threads.net", "threads.com"}),
    "discord": frozenset(),
    "viber": frozenset(),
    "wechat": frozenset(),
    "skype": frozenset(),
    "kik": frozenset(),
    "pinterest": frozenset({"pinterest.com"}),
    "twitch": frozenset({"twitch.tv"}),
    "tinder": frozenset(),
    "badoo": frozenset({"badoo.com"}),
}
_PLATFORM_ALIASES = {"twitter": "x", "fb": "facebook", "ig": "instagram", "vkontakte": "vk", "tg": "telegram"}
# URL path segments that come before the handle on some platforms (/add/<h>, /in/<h>, /user/<h>, /u/<h>).
_PATH_PREFIXES = frozenset({"add", "in", "user", "u", "c", "channel", "s"})
_HANDLE_MAX = 100


def _platform(value: str | None) -> str:
    if value is None or not value.strip():
        raise InvalidIdentifier("platform", "required: the social network, e.g. instagram")
    name = value.strip().lower()
    name = _PLATFORM_ALIASES.get(name, name)
    if name not in _PLATFORM_HOSTS:
        raise InvalidIdentifier("platform", "unknown platform; known: " + ", ".join(sorted(_PLATFORM_HOSTS)))
    return name


def _handle_from_url(text: str, platform: str) -> str:
    parts = urlsplit(text if "://" in text else "https://" + text)
    host = (parts.hostname or "").removeprefix("www.")
    if host not in _PLATFORM_HOSTS[platform]:
        raise InvalidIdentifier("value", f"the address is not a {platform} profile URL")
    if platform == "facebook" and parts.path.rstrip("/") == "/profile.php":
        ids = parse_qs(parts.query).get("id", [])
        if len(ids) == 1:
            return ids[0]
    segments = [s for s in parts.path.split("/") if s]
    if segments and segments[0].lower() in _PATH_PREFIXES and len(segments) > 1:
        segments = segments[1:]
    if not segments:
        raise InvalidIdentifier("value", f"the {platform} URL names no account")
    return segments[0]


def _looks_like_url(text: str, platform: str) -> bool:
    if "://" in text:
        return True
    head = text.split("/", 1)[0].lower().removeprefix("www.")
    return "/" in text and head in _PLATFORM_HOSTS[platform]


def normalize_social(identifier: Identifier) -> Normalized:
    """``"<platform>:<handle>"``: platform required (``twitter`` is ``x``), handle lower-cased without ``@``.

    A profile URL of the same platform is reduced to its handle. Handles are compared case-insensitively,
    as every listed platform treats them.
    """
    platform = _platform(identifier.platform)
    text = identifier.value.strip()
    if _looks_like_url(text, platform):
        text = _handle_from_url(text, platform)
    handle = text.lstrip("@").lower()
    if not handle:
        raise InvalidIdentifier("value", "empty handle")
    if len(handle) > _HANDLE_MAX:
        raise InvalidIdentifier("value", f"a handle has at most {_HANDLE_MAX} characters")
    if any(c.isspace() or c in "/?#@:" for c in handle):
        raise InvalidIdentifier("value", "a handle has no spaces or URL characters; give a handle or profile URL")
    canonical = f"{platform}:{handle}"
    return Normalized("social", canonical, (MatchKey("social", Tier.STRONG, canonical),))
