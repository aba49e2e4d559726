"""The node's configuration: ``<home>/casebridge.toml``, read once into frozen values.

Example::

    agency = "NL-NP"
    federation = "eu-tht"
    listen = "127.0.0.1:7443"
    suite = "x25519-elligator2-sha512-v1"
    retention_days = 365

    [policy]                    # default for every peer; key_types absent = the strong key types
    max_set_size = 200000       # keys per session, either side
    daily_quota = 1000000       # keys a peer may bring in any 24 hours
    daily_work = 5000000        # keys of ours blinded for one peer's sessions in any 24 hours
    epoch = 7                   # days a key epoch with a peer lasts at most; "none": full sessions only
    daily_delta_quota = 1000000 # keys a peer may bring in delta sessions in any 24 hours

    [sessions]                  # node-wide limits on the sessions peers open with us
    max_concurrent = 8
    max_concurrent_per_peer = 2
    deadline_seconds = 900      # a whole session, from its Open to its last frame

    [schedule]                  # rounds a serving node runs by itself (enabled = false: only by hand)
    after_import = 30           # seconds from a case change to a round with every peer
    interval = 900              # seconds between catch-up rounds with each peer

    [notify]                    # optional: post news of new alerts and disclosure requests
    webhook = "https://alerts.example.org/casebridge"
    secret_file = "notify.secret"             # HMAC key for the signature, relative to the home

    [peers.DE-BKA]
    address = "bka.example.de:7443"
    certificate = "peers/DE-BKA.crt"          # relative to the home
    fingerprint = "3A:1F:...:9C"              # SHA-256 of the pinned certificate's DER
    key_types = ["phone", "passport"]         # optional; each [policy] field set here overrides
                                              # [policy] for this peer only

A peer entry stores only what was set for it, so changing ``[policy]`` changes every peer that did not
override it. Unknown fields are errors, like bad values; every error names the file and the field.
Edits (``peers add``/``remove``) go through :func:`update_config`, which validates the whole new document
before replacing the file atomically, so a failed edit leaves the old file in place.
"""

from __future__ import annotations

import os
import re
import tempfile
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import tomli_w

from crypto.certificates import AGENCY_CODE, fingerprint, load_certificate, same_fingerprint
from crypto.suite import SUITES
from matcher.identifiers import STRONG_KEY_TYPES
from node.config.model import (
    DEFAULT_DAILY_QUOTA,
    DEFAULT_DAILY_WORK,
    DEFAULT_MAX_SET_SIZE,
    DEFAULT_RETENTION_DAYS,
    DEFAULT_SESSION_MINUTES,
    Address,
    NodeConfig,
    NotifySettings,
    Peer,
    Policy,
    ScheduleSettings,
    SessionLimits,
    WebSettings,
)
from node.config.values import is_loopback, parse_address, parse_key_types, parse_webhook
from node.core.errors import EXPECTED_ERRORS, LocalError
from node.core.home import NodeHome

__all__ = [
    "DEFAULT_DAILY_QUOTA",
    "DEFAULT_DAILY_WORK",
    "DEFAULT_MAX_SET_SIZE",
    "DEFAULT_RETENTION_DAYS",
    "FEDERATION_NAME",
    "Address",
    "ConfigError",
    "NodeConfig",
    "NotifySettings",
    "Peer",
    "Policy",
    "ScheduleSettings",
    "SessionLimits",
    "WebSettings",
    "initial_document",
    "is_loopback",
    "load_config",
    "parse_address",
    "parse_config",
    "parse_key_types",
    "parse_webhook",
    "update_config",
    "write_new_config",
]

FEDERATION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_T = TypeVar("_T")
_TOP_FIELDS = {
    "agency", "federation", "listen", "suite", "retention_days", "policy", "sessions", "peers", "web", "disclosure",
    "schedule", "notify",
}  # fmt: skip
_POLICY_FIELDS = {"key_types", "max_set_size", "daily_quota", "daily_work", "epoch", "daily_delta_quota"}
_SESSION_FIELDS = {"max_concurrent", "max_concurrent_per_peer", "deadline_seconds"}
_PEER_FIELDS = {"address", "certificate", "fingerprint"} | _POLICY_FIELDS
_WEB_FIELDS = {"listen", "certificate", "key", "session_minutes"}
_DISCLOSURE_FIELDS = {"four_eyes"}
_SCHEDULE_FIELDS = {"enabled", "after_import", "interval"}
_NOTIFY_FIELDS = {"webhook", "secret_file"}
DEFAULT_NOTIFY_KEY_FILE = "notify.secret"


class ConfigError(LocalError):
    """The config file (or a value about to be written to it) is wrong; the message names file and field."""


class _Reader:
    """Field access that turns every problem into a ConfigError naming the file and the field."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def error(self, field: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.path}: {field}: {problem}")

    def table(self, raw: Any, field: str, allowed: set[str]) -> Mapping[str, Any]:
        if not isinstance(raw, dict):
            raise self.error(field, "expected a table")
        for key in raw:
            if key not in allowed:
                where = f"{field}.{key}" if field else key
                raise self.error(where, f"unknown field; known: {', '.join(sorted(allowed))}")
        return raw

    def required(self, raw: Mapping[str, Any], key: str, field: str) -> Any:
        if key not in raw:
            raise self.error(field, "missing")
        return raw[key]

    def string(self, value: Any, field: str) -> str:
        if not isinstance(value, str) or not value:
            raise self.error(field, "expected a non-empty string")
        return value

    def positive(self, value: Any, field: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise self.error(field, "expected a positive whole number")
        return value

    def checked(self, parse: Callable[[Any], _T], value: Any, field: str) -> _T:
        try:
            return parse(value)
        except EXPECTED_ERRORS as exc:
            raise self.error(field, str(exc)) from None

    def policy(self, raw: Mapping[str, Any], field: str, default: Policy) -> Policy:
        types = default.key_types
        if "key_types" in raw:
            types = self.checked(parse_key_types, raw["key_types"], f"{field}key_types")
        size = default.max_set_size
        if "max_set_size" in raw:
            size = self.positive(raw["max_set_size"], f"{field}max_set_size")
        quota = default.daily_quota
        if "daily_quota" in raw:
            quota = self.positive(raw["daily_quota"], f"{field}daily_quota")
        work = default.daily_work
        if "daily_work" in raw:
            work = self.positive(raw["daily_work"], f"{field}daily_work")
        delta_quota = default.daily_delta_quota
        if "daily_delta_quota" in raw:
            delta_quota = self.positive(raw["daily_delta_quota"], f"{field}daily_delta_quota")
        epoch = default.epoch_days
        if "epoch" in raw:
            epoch = None if raw["epoch"] == "none" else self.days(raw["epoch"], f"{field}epoch")
        return Policy(key_types=types, max_set_size=size, daily_quota=quota, daily_work=work, epoch_days=epoch,
                      daily_delta_quota=delta_quota)  # fmt: skip

    def days(self, value: Any, field: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 90:
            raise self.error(field, 'expected a number of days from 1 to 90, or "none" (full sessions only)')
        return value

    def sessions(self, raw: Mapping[str, Any]) -> SessionLimits:
        default = SessionLimits()
        values = {
            name: self.positive(raw[name], f"sessions.{name}") if name in raw else getattr(default, name)
            for name in sorted(_SESSION_FIELDS)
        }
        if values["max_concurrent_per_peer"] > values["max_concurrent"]:
            raise self.error("sessions.max_concurrent_per_peer", "cannot be larger than sessions.max_concurrent")
        return SessionLimits(**values)

    def web(self, raw: Mapping[str, Any], home: NodeHome) -> WebSettings:
        listen = None
        if "listen" in raw:
            listen = self.checked(parse_address, self.string(raw["listen"], "web.listen"), "web.listen")
        files: dict[str, Path | None] = {}
        for name in ("certificate", "key"):
            files[name] = None
            if name in raw:
                path = Path(self.string(raw[name], f"web.{name}"))
                files[name] = path if path.is_absolute() else home.root / path
        if (files["certificate"] is None) != (files["key"] is None):
            raise self.error("web.certificate", "give both web.certificate and web.key, or neither")
        minutes = self.positive(raw.get("session_minutes", DEFAULT_SESSION_MINUTES), "web.session_minutes")
        return WebSettings(listen, files["certificate"], files["key"], minutes)

    def schedule(self, raw: Mapping[str, Any]) -> ScheduleSettings:
        default = ScheduleSettings()
        return ScheduleSettings(
            enabled=self.flag(raw, "enabled", "schedule.enabled", default.enabled),
            after_import=self.positive(raw.get("after_import", default.after_import), "schedule.after_import"),
            interval=self.positive(raw.get("interval", default.interval), "schedule.interval"),
        )

    def notify(self, raw: Mapping[str, Any], home: NodeHome) -> NotifySettings:
        if "webhook" not in raw:
            if "secret_file" in raw:
                raise self.error("notify.secret_file", "set notify.webhook too, or remove this field")
            return NotifySettings()
        url = self.checked(parse_webhook, self.string(raw["webhook"], "notify.webhook"), "notify.webhook")
        secret = Path(self.string(raw.get("secret_file", DEFAULT_NOTIFY_KEY_FILE), "notify.secret_file"))
        return NotifySettings(url, secret if secret.is_absolute() else home.root / secret)

    def flag(self, raw: Mapping[str, Any], key: str, field: str, default: bool) -> bool:
        value = raw.get(key, default)
        if not isinstance(value, bool):
            raise self.error(field, "expected true or false")
        return value


def parse_config(raw: Mapping[str, Any], path: Path, home: NodeHome) -> NodeConfig:
    """Validate a parsed TOML document. Pinned certificates are read and checked against their fingerprint."""
    r = _Reader(path)
    top = r.table(dict(raw), "", _TOP_FIELDS)
    agency = r.string(r.required(top, "agency", "agency"), "agency")
    if not AGENCY_CODE.fullmatch(agency):
        raise r.error("agency", f"{agency!r} is not an agency code (e.g. NL-NP, DE-BKA, RO-DIICOT)")
    federation = r.string(r.required(top, "federation", "federation"), "federation")
    if not FEDERATION_NAME.fullmatch(federation):
        raise r.error("federation", "expected letters, digits, '.', '_' or '-' (at most 64)")
    listen = r.checked(parse_address, r.string(r.required(top, "listen", "listen"), "listen"), "listen")
    suite = r.string(top.get("suite", next(iter(SUITES))), "suite")
    if suite not in SUITES:
        raise r.error("suite", f"unknown suite {suite!r}; known: {', '.join(sorted(SUITES))}")
    retention = r.positive(top.get("retention_days", DEFAULT_RETENTION_DAYS), "retention_days")
    builtin = Policy(STRONG_KEY_TYPES, DEFAULT_MAX_SET_SIZE, DEFAULT_DAILY_QUOTA, DEFAULT_DAILY_WORK)
    policy = r.policy(r.table(top.get("policy", {}), "policy", _POLICY_FIELDS), "policy.", builtin)
    peers_raw = top.get("peers", {})
    if not isinstance(peers_raw, dict):
        raise r.error("peers", "expected a table of peers keyed by agency code")
    peers = [_parse_peer(r, code, entry, home, policy, agency) for code, entry in sorted(peers_raw.items())]
    sessions = r.sessions(r.table(top.get("sessions", {}), "sessions", _SESSION_FIELDS))
    web = r.web(r.table(top.get("web", {}), "web", _WEB_FIELDS), home)
    disclosure = r.table(top.get("disclosure", {}), "disclosure", _DISCLOSURE_FIELDS)
    return NodeConfig(
        agency=agency,
        federation=federation,
        listen=listen,
        suite=suite,
        retention_days=retention,
        policy=policy,
        peers=tuple(peers),
        sessions=sessions,
        web=web,
        four_eyes=r.flag(disclosure, "four_eyes", "disclosure.four_eyes", True),
        schedule=r.schedule(r.table(top.get("schedule", {}), "schedule", _SCHEDULE_FIELDS)),
        notify=r.notify(r.table(top.get("notify", {}), "notify", _NOTIFY_FIELDS), home),
    )


def _parse_peer(r: _Reader, code: str, entry: Any, home: NodeHome, default: Policy, agency: str) -> Peer:
    field = f"peers.{code}"
    if not AGENCY_CODE.fullmatch(code):
        raise r.error(field, f"{code!r} is not an agency code (e.g. NL-NP, DE-BKA, RO-DIICOT)")
    if code == agency:
        raise r.error(field, "a node cannot be its own peer")
    raw = r.table(entry, field, _PEER_FIELDS)
    address_field = f"{field}.address"
    address = r.checked(
        parse_address, r.string(r.required(raw, "address", address_field), address_field), address_field
    )
    cert_field = f"{field}.certificate"
    cert_path = Path(r.string(r.required(raw, "certificate", cert_field), cert_field))
    if not cert_path.is_absolute():
        cert_path = home.root / cert_path
    pinned = r.string(r.required(raw, "fingerprint", f"{field}.fingerprint"), f"{field}.fingerprint")
    try:
        cert = load_certificate(cert_path.read_bytes())
    except OSError as exc:
        raise r.error(cert_field, f"cannot read {cert_path} ({exc.strerror or type(exc).__name__})") from None
    except EXPECTED_ERRORS as exc:
        raise r.error(cert_field, f"{cert_path}: {exc}") from None
    if not same_fingerprint(fingerprint(cert), pinned):
        raise r.error(f"{field}.fingerprint", f"does not match {cert_path}; the pinned certificate file was changed")
    return Peer(
        code=code,
        address=address,
        certificate=cert_path.resolve(),
        fingerprint=fingerprint(cert),
        policy=r.policy(raw, f"{field}.", default),
    )


def _read_document(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no config; run 'casebridge init' first (or pass --home)") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config ({exc.strerror or type(exc).__name__})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def load_config(home: NodeHome) -> NodeConfig:
    """Read and validate ``<home>/casebridge.toml`` once."""
    return parse_config(_read_document(home.config), home.config, home)


def initial_document(agency: str, federation: str, listen: Address) -> dict[str, Any]:
    return {
        "agency": agency,
        "federation": federation,
        "listen": str(listen),
        "suite": next(iter(SUITES)),
        "retention_days": DEFAULT_RETENTION_DAYS,
        "policy": {"max_set_size": DEFAULT_MAX_SET_SIZE, "daily_quota": DEFAULT_DAILY_QUOTA},
        "peers": {},
    }


def _write_atomically(path: Path, document: Mapping[str, Any]) -> None:
    data = tomli_w.dumps(dict(document)).encode()
    fd, tmp = tempfile.mkstemp(prefix=".casebridge-", suffix=".toml", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_new_config(home: NodeHome, document: Mapping[str, Any]) -> NodeConfig:
    """Validate and write a first config for ``home``."""
    config = parse_config(document, home.config, home)
    _write_atomically(home.config, document)
    return config


def update_config(home: NodeHome, edit: Callable[[dict[str, Any]], None]) -> NodeConfig:
    """Apply ``edit`` to the raw document, validate the result, then replace the file atomically."""
    document = _read_document(home.config)
    edit(document)
    config = parse_config(document, home.config, home)
    _write_atomically(home.config, document)
    return config
