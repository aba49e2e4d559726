"""Peer agencies: pin (add), update, remove, list, check.

A peer lives in the TOML config (address, policy, fingerprint) and in the home (its pinned certificate);
every change is also an audit entry. The two cannot share one transaction, so each change opens its audit
transaction first, writes the config inside it, and commits only after the write succeeded; if the audit
entry or the commit fails, the previous config is put back (and a freshly copied certificate removed). A
change is therefore either in the config *and* audited, or in neither.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from sqlite_utils import Database

from crypto.certificates import (
    agency_of,
    certificate_pem,
    fingerprint,
    load_certificate,
    same_fingerprint,
    validate_agency_code,
)
from node.config.bundle import read_bundle
from node.config.settings import Address, NodeConfig, Peer, parse_address, parse_key_types, update_config
from node.core.errors import EXPECTED_ERRORS, LocalError
from node.matching.attempts import discard_attempt
from node.ops.context import Operations
from node.store import audit as audit
from node.store import open_database, transaction
from node.store.epochs import end_open_epochs

__all__ = [
    "PeerCheck",
    "PeerSource",
    "PinOutcome",
    "PolicyChange",
    "check",
    "list_peers",
    "pin",
    "remove",
    "source_from_bundle",
    "source_from_file",
    "update",
]

PEERS_DIR = "peers"


def _peer_error(code: str, field: str, problem: str) -> LocalError:
    return LocalError(f"peer {code}: {field}: {problem}")


@dataclass(frozen=True)
class PeerSource:
    """What the operator received from a peer: its code, address and certificate, and where they came from."""

    code: str
    address: str
    certificate_pem: bytes
    source: str  # the file named in errors


@dataclass(frozen=True)
class PolicyChange:
    """A peer's own policy values; ``None`` leaves a value as it is (or follows ``[policy]`` when pinning)."""

    types: str | None = None
    max_set_size: int | None = None
    daily_quota: int | None = None
    daily_work: int | None = None
    epoch: str | None = None  # days from 1 to 90, or "none"
    daily_delta_quota: int | None = None

    def entry(self, code: str) -> dict[str, Any]:
        """The given values as config fields (absent ones left out)."""
        entry: dict[str, Any] = {}
        if self.types is not None:
            try:
                entry["key_types"] = list(parse_key_types(self.types))
            except LocalError as exc:
                raise _peer_error(code, "--types", str(exc)) from None
        if self.max_set_size is not None:
            entry["max_set_size"] = self.max_set_size
        if self.daily_quota is not None:
            entry["daily_quota"] = self.daily_quota
        if self.daily_work is not None:
            entry["daily_work"] = self.daily_work
        if self.epoch is not None:
            entry["epoch"] = _epoch_days(code, self.epoch)
        if self.daily_delta_quota is not None:
            entry["daily_delta_quota"] = self.daily_delta_quota
        return entry

    def is_empty(self) -> bool:
        values = (self.types, self.max_set_size, self.daily_quota, self.daily_work, self.epoch, self.daily_delta_quota)
        return all(v is None for v in values)


def _epoch_days(code: str, value: str) -> int | str:
    if value.strip().lower() == "none":
        return "none"
    if value.strip().isdigit() and 1 <= int(value) <= 90:
        return int(value)
    raise _peer_error(code, "--epoch", f"{value!r} is not a number of days from 1 to 90, or 'none'")


@dataclass(frozen=True)
class PinOutcome:
    peer: Peer
    already_pinned: bool  # the same certificate was pinned before; nothing changed
    asked_address: Address  # differs from peer.address when an already pinned peer stays where it is


@dataclass(frozen=True)
class PeerCheck:
    """Whether a pinned certificate can still be relied on; ``problem`` is None when it can."""

    code: str
    certificate: str
    fingerprint: str
    not_after: str | None
    problem: str | None

    def as_json(self) -> dict[str, Any]:
        return {**self.__dict__, "ok": self.problem is None}


def source_from_file(code: str, address: str, cert_file: Path) -> PeerSource:
    try:
        pem = cert_file.read_bytes()
    except OSError as exc:
        raise _peer_error(code, "--cert", f"cannot read {cert_file} ({exc.strerror or type(exc).__name__})") from None
    return PeerSource(code, address, pem, str(cert_file))


def source_from_bundle(
    ops: Operations, bundle_file: Path, code: str | None = None, address: str | None = None
) -> PeerSource:
    """The peer named by its identity bundle; ``code`` must then match, ``address`` overrides the bundle's."""
    config = ops.config()
    bundle = read_bundle(bundle_file)
    if code is not None and code != bundle.agency:
        raise _peer_error(code, "--bundle", f"{bundle_file} is the bundle of {bundle.agency}")
    if bundle.federation != config.federation:
        raise _peer_error(
            bundle.agency,
            "--bundle",
            f"{bundle_file} belongs to federation {bundle.federation}, this node to {config.federation}",
        )
    return PeerSource(bundle.agency, address or str(bundle.address), bundle.certificate_pem, str(bundle_file))


def list_peers(ops: Operations) -> tuple[Peer, ...]:
    return ops.config().peers


def _configured(config: NodeConfig, code: str) -> Peer:
    peer = config.peer(code)
    if peer is None:
        known = ", ".join(p.code for p in config.peers) or "none"
        raise LocalError(f"peer {code}: not configured (configured: {known})")
    return peer


def _audit_policy(db: Database, ops: Operations, event: str, peer: Peer) -> None:
    """Pinning and policy changes belong in the audit log like the sessions they govern."""
    audit.append(
        db,
        event,
        at=ops.now_iso(),
        peer=peer.code,
        actor=ops.actor,
        address=str(peer.address),
        fingerprint=peer.fingerprint,
        key_types=list(peer.policy.key_types),
        max_set_size=peer.policy.max_set_size,
        daily_quota=peer.policy.daily_quota,
        daily_work=peer.policy.daily_work,
    )


@contextmanager
def _config_restored_on_failure(ops: Operations) -> Iterator[None]:
    """Put the config file back as it was if the block fails after changing it."""
    previous = ops.home.config.read_bytes()
    try:
        yield
    except BaseException:
        if ops.home.config.read_bytes() != previous:
            tmp = ops.home.config.with_name(f".{ops.home.config.name}.restore")
            tmp.write_bytes(previous)
            os.chmod(tmp, 0o600)
            os.replace(tmp, ops.home.config)
        raise


def _audited_config_change(
    ops: Operations,
    edit: Callable[[dict[str, Any]], None],
    event: str,
    audited: Callable[[NodeConfig], Peer],
    also: Callable[[Database], None] | None = None,
) -> NodeConfig:
    """Apply ``edit`` to the config and audit it as one change: both happen or neither does (and ``also``,
    a change of the store that goes with it)."""
    db = open_database(ops.home)
    try:
        with _config_restored_on_failure(ops), transaction(db):
            config = update_config(ops.home, edit)
            _audit_policy(db, ops, event, audited(config))
            if also is not None:
                also(db)
        return config
    finally:
        db.close()


def _validated(config: NodeConfig, given: PeerSource) -> tuple[Address, x509.Certificate, str]:
    """The peer's code, address and certificate, checked; the agency the certificate carries."""
    code = given.code
    try:
        validate_agency_code(code)
    except LocalError as exc:
        raise _peer_error(code, "CODE", str(exc)) from None
    if code == config.agency:
        raise _peer_error(code, "CODE", "that is this node's own agency")
    try:
        address = parse_address(given.address)
    except LocalError as exc:
        raise _peer_error(code, "--address", str(exc)) from None
    try:
        cert = load_certificate(given.certificate_pem)
        carried = agency_of(cert)
    except EXPECTED_ERRORS as exc:
        raise _peer_error(code, "--cert", f"{given.source}: {exc}") from None
    return address, cert, carried


def pin(ops: Operations, given: PeerSource, policy: PolicyChange, *, skip_existing: bool = False) -> PinOutcome:
    """Pin a peer: copy its certificate into the home, record its fingerprint and policy, audit it."""
    config = ops.config()
    code = given.code
    address, cert, carried = _validated(config, given)
    existing = config.peer(code)
    if existing is not None:
        if skip_existing and same_fingerprint(existing.fingerprint, fingerprint(cert)):
            return PinOutcome(existing, already_pinned=True, asked_address=address)
        raise _peer_error(
            code,
            "CODE",
            f"already configured; change its policy or address with 'casebridge peers update {code}', or run "
            f"'casebridge peers remove {code}' first to pin another certificate",
        )
    entry: dict[str, Any] = {"address": str(address), **policy.entry(code)}
    if carried != code:
        raise _peer_error(code, "--cert", f"{given.source} carries agency {carried}, not {code}")
    if cert.not_valid_after_utc <= ops.clock.now():
        raise _peer_error(code, "--cert", f"{given.source} expired on {cert.not_valid_after_utc:%Y-%m-%d}")
    relative = Path(PEERS_DIR) / f"{code}.crt"
    pinned = ops.home.root / relative
    pinned.parent.mkdir(mode=0o700, exist_ok=True)
    tmp = pinned.with_name(f".{pinned.name}.tmp")
    tmp.write_bytes(certificate_pem(cert))
    os.replace(tmp, pinned)
    entry["certificate"] = str(relative)
    entry["fingerprint"] = fingerprint(cert)

    def add(document: dict[str, Any]) -> None:
        document.setdefault("peers", {})[code] = entry

    try:
        config = _audited_config_change(ops, add, "policy.peer-added", lambda c: _configured(c, code))
    except BaseException:
        pinned.unlink(missing_ok=True)
        raise
    return PinOutcome(_configured(config, code), already_pinned=False, asked_address=address)


def update(
    ops: Operations, code: str, policy: PolicyChange, *, address: str | None = None, default_policy: bool = False
) -> Peer:
    """Change a peer's address or policy; the pinned certificate stays. Audited."""
    _configured(ops.config(), code)
    if address is None and policy.is_empty() and not default_policy:
        raise LocalError(
            f"peer {code}: nothing to change; give --address, --types, --max-set-size, --daily-quota, "
            "--daily-work, --epoch, --daily-delta-quota or --default-policy"
        )
    changes = policy.entry(code)
    if address is not None:
        try:
            changes["address"] = str(parse_address(address))
        except LocalError as exc:
            raise _peer_error(code, "--address", str(exc)) from None

    def edit(document: dict[str, Any]) -> None:
        entry = document["peers"][code]
        if default_policy:
            for field in ("key_types", "max_set_size", "daily_quota", "daily_work", "epoch", "daily_delta_quota"):
                entry.pop(field, None)
        entry.update(changes)

    config = _audited_config_change(ops, edit, "policy.peer-changed", lambda c: _configured(c, code))
    return _configured(config, code)


def remove(ops: Operations, code: str) -> Peer:
    """Stop matching with a peer and delete its pinned certificate (once the removal is committed)."""
    peer = _configured(ops.config(), code)

    def edit(document: dict[str, Any]) -> None:
        document.get("peers", {}).pop(code, None)

    def end_epochs(db: Database) -> None:
        # What we kept of our key epochs with the peer (scalars, elements, its tags) goes with it.
        end_open_epochs(db, code, None, "the peer was removed", ops.now_iso())

    _audited_config_change(ops, edit, "policy.peer-removed", lambda _config: peer, end_epochs)
    for role in ("initiator", "responder"):
        discard_attempt(ops.home, code, role)  # and what an interrupted full session with it had kept
    if peer.certificate.is_relative_to(ops.home.root.resolve()):
        peer.certificate.unlink(missing_ok=True)
    return peer


@dataclass(frozen=True)
class _Pinned:
    code: str
    certificate: Path
    fingerprint: str


def _pinned(ops: Operations) -> list[_Pinned]:
    """The peers table as written, without the validation that loading the config does.

    Loading refuses a config whose pinned certificate is missing or changed; ``check`` exists to say
    which peer that is, so it reads the table itself.
    """
    try:
        document = tomllib.loads(ops.home.config.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise LocalError(f"{ops.home.config}: cannot read the config ({exc})") from None
    found = []
    for code, entry in sorted(dict(document.get("peers") or {}).items()):
        if not isinstance(entry, dict):
            raise LocalError(f"{ops.home.config}: peers.{code}: expected a table")
        path = Path(str(entry.get("certificate", f"{PEERS_DIR}/{code}.crt")))
        found.append(_Pinned(code, path if path.is_absolute() else ops.home.root / path, str(entry.get("fingerprint"))))
    return found


def _check_one(ops: Operations, peer: _Pinned) -> PeerCheck:
    def result(problem: str | None, not_after: str | None = None) -> PeerCheck:
        return PeerCheck(peer.code, str(peer.certificate), peer.fingerprint, not_after, problem)

    try:
        cert = load_certificate(peer.certificate.read_bytes())
    except OSError as exc:
        return result(f"cannot read the pinned certificate ({exc.strerror or type(exc).__name__})")
    except EXPECTED_ERRORS as exc:
        return result(f"the pinned certificate is not readable: {exc}")
    not_after = cert.not_valid_after_utc.isoformat(timespec="seconds")
    if not same_fingerprint(peer.fingerprint, fingerprint(cert)):
        return result("the pinned certificate does not match the recorded fingerprint", not_after)
    if cert.not_valid_after_utc <= ops.clock.now():
        return result(f"the pinned certificate expired on {cert.not_valid_after_utc:%Y-%m-%d}", not_after)
    return result(None, not_after)


def check(ops: Operations, codes: tuple[str, ...] = ()) -> list[PeerCheck]:
    """For each peer (default: all): is its pinned certificate readable, unexpired, and the one pinned?"""
    pinned = {p.code: p for p in _pinned(ops)}
    unknown = [c for c in codes if c not in pinned]
    if unknown:
        known = ", ".join(pinned) or "none"
        raise LocalError(f"peer {', '.join(unknown)}: not configured (configured: {known})")
    return [_check_one(ops, pinned[c]) for c in (codes or tuple(pinned))]
