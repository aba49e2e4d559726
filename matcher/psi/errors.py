"""Protocol errors of the PSI session, by fault."""

from __future__ import annotations

from matcher.errors import MatcherError

__all__ = [
    "EpochEnded",
    "LocalProtocolError",
    "PeerMisbehaved",
    "PolicyRefused",
    "RemoteProtocolError",
    "VersionMismatch",
]


class LocalProtocolError(MatcherError):
    """We (our caller) broke the protocol, e.g. sent a message in the wrong state."""


class RemoteProtocolError(MatcherError):
    """The peer broke the protocol: a message out of order, a wrong size, an invalid element."""


class PolicyRefused(MatcherError):
    """The peer asked for more than our policy allows (e.g. an oversized set)."""


class EpochEnded(PolicyRefused):
    """A delta names an epoch this side no longer keeps (ended, expired, unknown) or is out of step with
    (the two sides recorded a different number of its sessions): the initiator opens a new epoch."""


class VersionMismatch(RemoteProtocolError):
    """The peer speaks another protocol version than ours."""


class PeerMisbehaved(RemoteProtocolError):
    """The peer deviated from the exchange in a way only a peer trying to learn (or to deny us) a result
    would: its answers missed our canaries, or it withheld the result after it could have learned it.

    The message starts with ``peer-misbehaved:``; the session reveals nothing further.
    """
