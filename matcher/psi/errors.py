"""Protocol errors of the PSI session, by fault."""

from __future__ import annotations

from matcher.errors import MatcherError

__all__ = ["LocalProtocolError", "PolicyRefused", "RemoteProtocolError"]


class LocalProtocolError(MatcherError):
    """We (our caller) broke the protocol, e.g. sent a message in the wrong state."""


class RemoteProtocolError(MatcherError):
    """The peer broke the protocol: a message out of order, a wrong size, an invalid element."""


class PolicyRefused(MatcherError):
    """The peer asked for more than our policy allows (e.g. an oversized set)."""
