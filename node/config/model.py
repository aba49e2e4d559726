"""The node's configuration as frozen values: what :mod:`node.config.settings` reads from the config file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DEFAULT_DAILY_QUOTA",
    "DEFAULT_DAILY_WORK",
    "DEFAULT_EPOCH_DAYS",
    "DEFAULT_MAX_SET_SIZE",
    "DEFAULT_RETENTION_DAYS",
    "DEFAULT_SESSION_MINUTES",
    "Address",
    "NodeConfig",
    "NotifySettings",
    "Peer",
    "Policy",
    "ScheduleSettings",
    "SessionLimits",
    "WebSettings",
]

# Sized for a realistic agency: a few hundred thousand keys, a handful of full sessions a day per peer.
DEFAULT_MAX_SET_SIZE = 200_000
DEFAULT_DAILY_QUOTA = 1_000_000
DEFAULT_DAILY_WORK = 5_000_000
# A key epoch lasts this many days at most (docs/threat-model.md: what a peer can link inside one).
DEFAULT_EPOCH_DAYS = 7
DEFAULT_RETENTION_DAYS = 365
DEFAULT_SESSION_MINUTES = 480


@dataclass(frozen=True)
class Address:
    """A ``HOST:PORT`` network address; IPv6 hosts are written in brackets (``[::1]:7443``)."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Policy:
    """What we share with a peer: which key types, how many keys per session and in any 24 hours (full
    sessions and delta sessions counted apart), how many of our own keys we blind for its sessions in any 24
    hours, and how many days a key epoch with it lasts (None: no epochs, full sessions only)."""

    key_types: tuple[str, ...]
    max_set_size: int
    daily_quota: int
    daily_work: int = DEFAULT_DAILY_WORK
    epoch_days: int | None = DEFAULT_EPOCH_DAYS
    daily_delta_quota: int = DEFAULT_DAILY_QUOTA


@dataclass(frozen=True)
class SessionLimits:
    """Node-wide bounds on the sessions peers open with us."""

    max_concurrent: int = 8
    max_concurrent_per_peer: int = 2
    deadline_seconds: int = 900


@dataclass(frozen=True)
class WebSettings:
    """The analyst console: where it listens (None: not served), its own certificate if any, and how long
    a login lasts."""

    listen: Address | None = None
    certificate: Path | None = None  # absolute; None: the node's certificate
    key: Path | None = None
    session_minutes: int = DEFAULT_SESSION_MINUTES


@dataclass(frozen=True)
class ScheduleSettings:
    """Matching rounds a serving node runs by itself: one with every peer at most ``after_import`` seconds
    after our cases change, and one with every peer every ``interval`` seconds to catch up."""

    enabled: bool = True
    after_import: int = 30
    interval: int = 900


@dataclass(frozen=True)
class NotifySettings:
    """Where a serving node posts news of new alerts and disclosure requests (None: nowhere), and the file
    holding the key that signs each post."""

    webhook: str | None = None
    secret_file: Path | None = None  # absolute; set whenever webhook is


@dataclass(frozen=True)
class Peer:
    """A configured peer agency with its pinned certificate and its effective policy."""

    code: str
    address: Address
    certificate: Path  # absolute
    fingerprint: str
    policy: Policy


@dataclass(frozen=True)
class NodeConfig:
    agency: str
    federation: str
    listen: Address
    suite: str
    retention_days: int
    policy: Policy  # the default for peers that do not override it
    peers: tuple[Peer, ...]  # sorted by code
    sessions: SessionLimits = SessionLimits()
    web: WebSettings = WebSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    notify: NotifySettings = NotifySettings()
    # A release and a request made in the console need two users: one prepares, another approves.
    four_eyes: bool = True

    def peer(self, code: str) -> Peer | None:
        for peer in self.peers:
            if peer.code == code:
                return peer
        return None
