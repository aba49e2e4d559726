"""Single values of the config file: addresses, webhook URLs, key-type lists. Each parser raises a
:class:`~node.core.errors.LocalError` saying what is wrong; the config reader adds the file and field."""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from typing import Any

from matcher.identifiers import KEY_TYPES
from node.config.model import Address
from node.core.errors import LocalError

__all__ = ["is_loopback", "parse_address", "parse_key_types", "parse_webhook"]

_HOSTNAME_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def parse_address(text: str) -> Address:
    """``HOST:PORT`` with HOST a DNS name, an IPv4 address or a bracketed IPv6 address; a LocalError else."""
    hint = "expected HOST:PORT, e.g. node.example.org:7443, 127.0.0.1:7443 or [::1]:7443"
    bracketed = re.fullmatch(r"\[([^\]]+)\]:(\d{1,5})", text)
    plain = re.fullmatch(r"([^:\[\]]+):(\d{1,5})", text)
    match = bracketed or plain
    if match is None:
        raise LocalError(f"{text!r} is not an address: {hint}")
    host, port = match.group(1), int(match.group(2))
    if not 1 <= port <= 65535:
        raise LocalError(f"{text!r}: the port must be between 1 and 65535")
    if bracketed:
        try:
            host = str(ipaddress.IPv6Address(host))
        except ValueError:
            raise LocalError(f"{text!r}: brackets must hold an IPv6 address") from None
    else:
        try:
            host = str(ipaddress.IPv4Address(host))
        except ValueError:
            labels = host.rstrip(".").split(".")
            if len(host) > 253 or not all(_HOSTNAME_LABEL.fullmatch(label) for label in labels):
                raise LocalError(f"{text!r}: {host!r} is neither a host name nor an IP address") from None
            host = host.rstrip(".").lower()
    return Address(host, port)


def parse_webhook(text: str) -> str:
    """A webhook address: HTTPS, or plain HTTP to this machine only (loopback)."""
    parts = urllib.parse.urlsplit(text)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise LocalError("expected an https:// address, e.g. https://alerts.example.org/casebridge")
    if parts.username or parts.password:
        raise LocalError("put no user name or password in the address")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise LocalError("plain http is allowed to a loopback address only; use https")
    return text


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_key_types(values: Any) -> tuple[str, ...]:
    """A list of known key types, duplicates dropped, in the order given; a LocalError naming the bad one."""
    if isinstance(values, str):
        values = [v.strip() for v in values.split(",") if v.strip()]
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise LocalError("expected a list of key types")
    unknown = [v for v in values if v not in KEY_TYPES]
    if unknown:
        raise LocalError(f"unknown key type {unknown[0]!r}; known: {', '.join(KEY_TYPES)}")
    if not values:
        raise LocalError("at least one key type is needed")
    return tuple(dict.fromkeys(values))
