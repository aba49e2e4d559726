"""Mutual-TLS credentials built from the node home and the pinned peer certificates.

The server trusts exactly the pinned peer certificates (each self-signed, so each is its own root) and its own
certificate (for the local health probe, which holds our key): a client without a certificate, or with any
other certificate, fails the TLS handshake and never reaches a handler. The server re-reads the pinned set
when the config file changes, so ``peers add`` and ``peers remove`` take effect for new connections without
a restart.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

import grpc
from cryptography import x509

from crypto.certificates import load_certificate
from node.config.settings import ConfigError, NodeConfig, Peer, load_config
from node.core.clock import now_iso
from node.core.home import NodeHome
from node.store import audit as audit
from node.store import open_database, transaction

__all__ = ["ConfigWatch", "caller_certificate", "channel_credentials", "server_credentials"]


log = logging.getLogger("casebridge.server")


@dataclass
class ConfigWatch:
    """The node config, re-read when the file changes (peers and policies are edited while serving).

    A file edited into an invalid state is logged and audited once (``node.config-invalid``), not once per
    call; :attr:`problem` holds the reason until a valid file is back (``node.config-repaired``).
    """

    home: NodeHome
    _stamp: tuple[int, int] | None = None
    _config: NodeConfig | None = None
    problem: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _current_stamp(self) -> tuple[int, int]:
        try:
            st = self.home.config.stat()
        except FileNotFoundError:
            raise ConfigError(f"{self.home.config}: no node here; check --home / CASEBRIDGE_HOME") from None
        return (st.st_mtime_ns, st.st_size)

    def get(self) -> NodeConfig:
        try:
            stamp = self._current_stamp()
            if self._config is None or stamp != self._stamp or self.problem is not None:
                self._config = load_config(self.home)
                self._stamp = stamp
        except ConfigError as exc:
            self._note(str(exc))
            raise
        self._note(None)
        return self._config

    def check(self) -> str | None:
        """Re-read the file if it changed; the reason it cannot be used, or None."""
        with contextlib.suppress(ConfigError):
            self.get()
        return self.problem

    def _note(self, problem: str | None) -> None:
        with self._lock:
            if problem == self.problem:
                return
            before, self.problem = self.problem, problem
        if problem is not None:
            log.error("the node configuration is unusable: %s", problem)
            self._audit("node.config-invalid", reason=problem)
        elif before is not None:
            log.info("the node configuration is usable again")
            self._audit("node.config-repaired")

    def _audit(self, event: str, **detail: str) -> None:
        try:
            db = open_database(self.home)
            with transaction(db):
                audit.append(db, event, at=now_iso(), **detail)
        except Exception as exc:  # the store may be the next thing that is broken; the log has it
            log.error("could not audit %s: %s", event, exc)

    def changed(self) -> bool:
        return self._config is None or self._current_stamp() != self._stamp


def _trusted_roots(home: NodeHome, config: NodeConfig) -> bytes:
    # Our own certificate is always trusted so that 'casebridge health' on this host (holding our key)
    # can complete the handshake; it is not a peer, so the Exchange handlers still refuse it. It also
    # keeps the set non-empty before the first peer is added, which then needs no restart.
    pems = [home.tls_cert.read_bytes(), *(peer.certificate.read_bytes() for peer in config.peers)]
    return b"".join(pems)


def server_credentials(watch: ConfigWatch) -> grpc.ServerCredentials:
    home = watch.home
    key, cert = home.tls_key.read_bytes(), home.tls_cert.read_bytes()

    def configuration(config: NodeConfig) -> grpc.ServerCertificateConfiguration:
        return grpc.ssl_server_certificate_configuration([(key, cert)], _trusted_roots(home, config))

    initial = watch.get()
    applied = [initial]

    def fetch() -> grpc.ServerCertificateConfiguration | None:
        # Called by gRPC before each handshake; None keeps the current configuration. The handlers read
        # the same watch, so whether the file changed is judged against the config the handshake last
        # used, not against the watch's own stamp (a handler may have reloaded it first).
        try:
            config = watch.get()
            if config is applied[0]:
                return None
            applied[0] = config
            return configuration(config)
        except Exception:  # a config being rewritten: keep serving with the last good one
            return None

    # gRPC accepts a fetcher that returns None ("unchanged"); the type stubs do not say so.
    fetcher = cast(Callable[[], grpc.ServerCertificateConfiguration], fetch)
    return grpc.dynamic_ssl_server_credentials(configuration(watch.get()), fetcher, require_client_authentication=True)


def channel_credentials(home: NodeHome, peer: Peer) -> grpc.ChannelCredentials:
    """Client credentials: present our certificate, trust only the peer's pinned certificate."""
    return grpc.ssl_channel_credentials(
        root_certificates=peer.certificate.read_bytes(),
        private_key=home.tls_key.read_bytes(),
        certificate_chain=home.tls_cert.read_bytes(),
    )


def caller_certificate(context: grpc.aio.ServicerContext) -> x509.Certificate | None:  # type: ignore[type-arg]
    """The certificate the calling node presented in the TLS handshake, if any."""
    auth = context.auth_context()
    pems = list(auth.get("x509_pem_cert") or [])
    if not pems:
        return None
    try:
        return load_certificate(pems[0])
    except Exception:
        return None
