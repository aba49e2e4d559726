"""Who is calling: the configured peer behind the client certificate of an RPC."""

from __future__ import annotations

import grpc

from crypto.certificates import agency_of, fingerprint, same_fingerprint
from node.config.settings import NodeConfig, Peer
from node.core.errors import EXPECTED_ERRORS, NotAPeer
from node.net.tls import caller_certificate

__all__ = ["identify_caller"]


def identify_caller(context: grpc.aio.ServicerContext, config: NodeConfig) -> Peer:  # type: ignore[type-arg]
    """The configured peer whose pinned certificate the caller presented; NotAPeer otherwise."""
    cert = caller_certificate(context)
    if cert is None:
        raise NotAPeer("the caller presented no client certificate")
    presented = fingerprint(cert)
    try:
        claimed = agency_of(cert)
    except EXPECTED_ERRORS:
        claimed = "?"
    for peer in config.peers:
        if same_fingerprint(peer.fingerprint, presented):
            if peer.code != claimed:
                raise NotAPeer(f"the certificate pinned for {peer.code} names agency {claimed}")
            return peer
    raise NotAPeer(f"agency {claimed} (certificate {presented[:23]}…) is not a configured peer")
