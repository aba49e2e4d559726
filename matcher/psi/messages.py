"""The PSI session's messages: plain values, no wire encoding (the node maps them to protobuf)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["PROTOCOL_VERSION", "Accept", "Elements", "Message", "Mode", "Open", "Result", "Tags"]

# The exchange this package speaks (docs/protocol.md): version 2, in which the responder decides the result
# and the initiator learns only the Result the responder sends after recording it. Version 1 (both sides
# compare tags themselves) is not spoken any more; a version-1 peer is refused with a message naming it.
PROTOCOL_VERSION = 2


class Mode(enum.Enum):
    """What each side learns."""

    MUTUAL = "mutual"  # each side learns which of its own elements are in the intersection
    COUNT_ONLY = "count-only"  # each side learns only the size of the intersection


@dataclass(frozen=True)
class Open:
    """Initiator -> responder: the version, suite and mode, the initiator's announced set size, and its
    public key ``a.G`` (32 bytes), which commits it to the scalar it must answer with."""

    suite: str
    mode: Mode
    set_size: int
    public_key: bytes = b""
    protocol_version: int = PROTOCOL_VERSION
    # Key epochs (matcher/psi/epoch.py): a 16-byte epoch id asks the responder to keep what it needs for
    # delta sessions (a full session) or names the epoch a delta continues; ``removed`` are the positions,
    # strictly ascending, of the initiator's elements a delta withdraws; ``epoch_round`` how many sessions
    # of the epoch the initiator has recorded (a delta whose count differs from the responder's is refused).
    epoch_id: bytes = b""
    delta: bool = False
    removed: tuple[int, ...] = ()
    epoch_round: int = 0


@dataclass(frozen=True)
class Accept:
    """Responder -> initiator: the responder's real set size (it sends that many elements plus the
    canaries) and the tag length for this session."""

    suite: str
    mode: Mode
    set_size: int
    tag_length: int
    protocol_version: int = PROTOCOL_VERSION
    # The responder keeps this session's material for the epoch the Open named (a delta always has it).
    epoch_kept: bool = False


@dataclass(frozen=True)
class Elements:
    """A chunk of the sender's own blinded elements (concatenated, 32 bytes each), in order."""

    data: bytes


@dataclass(frozen=True)
class Tags:
    """Initiator -> responder: a chunk of tags of the responder's elements blinded by both sides.

    Mutual mode: in the order the responder sent its elements. Count-only mode: shuffled.
    """

    data: bytes


@dataclass(frozen=True)
class Result:
    """Responder -> initiator, after the responder recorded the session: what the initiator learns.

    Mutual mode: ``positions`` are the positions, in the order the initiator sent its elements, of its
    elements that matched (strictly ascending) and ``intersection_size`` is their number. Count-only
    mode: ``positions`` is empty. A delta session: ``positions`` are the initiator positions that match now
    and did not before, ``dropped`` those that matched and no longer do (withdrawn ones are not listed), and
    ``intersection_size`` counts every match of the epoch after this delta.
    """

    intersection_size: int
    positions: tuple[int, ...] = ()
    dropped: tuple[int, ...] = ()


Message = Open | Accept | Elements | Tags | Result
