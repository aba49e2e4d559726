"""E-mail addresses: the address as written, and the mailbox a known provider delivers it to."""

from __future__ import annotations

from dataclasses import dataclass

from matcher.identifiers.model import Identifier, InvalidIdentifier, MatchKey, Normalized, Tier

__all__ = ["normalize_email"]


@dataclass(frozen=True)
class _Provider:
    domain: str
    ignores_dots: bool
    tag_separator: str | None


_GMAIL = _Provider("gmail.com", ignores_dots=True, tag_separator="+")
_MICROSOFT = _Provider("outlook.com", ignores_dots=False, tag_separator="+")
_YAHOO = _Provider("yahoo.com", ignores_dots=False, tag_separator="-")
_PROTON = _Provider("proton.me", ignores_dots=False, tag_separator="+")
_ICLOUD = _Provider("icloud.com", ignores_dots=False, tag_separator="+")
_FASTMAIL = _Provider("fastmail.com", ignores_dots=False, tag_separator="+")

# Domains that share one mailbox namespace are mapped to one domain (gmail/googlemail, proton's three
# domains, Apple's three). Microsoft's and Yahoo's domains are separate namespaces, so each keeps its name.
_PROVIDERS: dict[str, tuple[str, _Provider]] = {
    "gmail.com": ("gmail.com", _GMAIL),
    "googlemail.com": ("gmail.com", _GMAIL),
    "outlook.com": ("outlook.com", _MICROSOFT),
    "hotmail.com": ("hotmail.com", _MICROSOFT),
    "live.com": ("live.com", _MICROSOFT),
    "msn.com": ("msn.com", _MICROSOFT),
    "yahoo.com": ("yahoo.com", _YAHOO),
    "ymail.com": ("ymail.com", _YAHOO),
    "protonmail.com": ("proton.me", _PROTON),
    "protonmail.ch": ("proton.me", _PROTON),
    "proton.me": ("proton.me", _PROTON),
    "pm.me": ("proton.me", _PROTON),
    "icloud.com": ("icloud.com", _ICLOUD),
    "me.com": ("icloud.com", _ICLOUD),
    "mac.com": ("icloud.com", _ICLOUD),
    "fastmail.com": ("fastmail.com", _FASTMAIL),
    "fastmail.fm": ("fastmail.com", _FASTMAIL),
}

_MAX_LENGTH = 254


def _check_syntax(address: str) -> tuple[str, str]:
    if not address:
        raise InvalidIdentifier("value", "empty e-mail address")
    if len(address) > _MAX_LENGTH:
        raise InvalidIdentifier("value", f"e-mail address longer than {_MAX_LENGTH} characters")
    if any(c.isspace() for c in address):
        raise InvalidIdentifier("value", "e-mail address contains whitespace")
    if address.count("@") != 1:
        raise InvalidIdentifier("value", "an e-mail address needs exactly one @")
    local, domain = address.split("@")
    if not local:
        raise InvalidIdentifier("value", "nothing before the @ of the e-mail address")
    labels = domain.split(".")
    if len(labels) < 2 or any(not label for label in labels):
        raise InvalidIdentifier("value", "the e-mail domain needs a dot and no empty parts, e.g. example.org")
    if any(label.startswith("-") or label.endswith("-") for label in labels):
        raise InvalidIdentifier("value", "an e-mail domain part may not start or end with a hyphen")
    return local, domain


def _mailbox(local: str, provider: _Provider) -> str:
    if provider.tag_separator is not None:
        local = local.split(provider.tag_separator, 1)[0]
    if provider.ignores_dots:
        local = local.replace(".", "")
    return local


def normalize_email(identifier: Identifier) -> Normalized:
    """Trim, lower-case and syntax-check; add a provider key for providers with aliasing rules.

    The ``email`` key (strong) is the address as written. For the providers listed above an extra
    ``email-provider`` key is always emitted: the mailbox after removing what the provider ignores (dots
    at Gmail, ``+tag`` / ``-tag`` sub-addresses) on the provider's main domain. It is always emitted for
    those providers, even when equal to the plain address, so that ``john.doe+x@gmail.com`` and
    ``johndoe@googlemail.com`` meet on it. It is **medium**: it rests on our model of a third party's
    aliasing rules, which can change, and it merges addresses that a person may use to keep contacts apart.
    Custom domains hosted at these providers are not recognised and get no extra key.
    """
    address = identifier.value.strip().lower()
    local, domain = _check_syntax(address)
    keys = [MatchKey("email", Tier.STRONG, address)]
    known = _PROVIDERS.get(domain)
    if known is not None:
        main_domain, provider = known
        mailbox = _mailbox(local, provider)
        if not mailbox:
            raise InvalidIdentifier("value", "the e-mail address has no mailbox name once its tag is removed")
        keys.append(MatchKey("email-provider", Tier.MEDIUM, f"{mailbox}@{main_domain}"))
    return Normalized("email", address, tuple(keys))
