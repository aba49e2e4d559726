"""The PSI session's messages: plain values, no wire encoding (the node maps them to protobuf)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["Accept", "Elements", "Message", "Mode", "Open", "Tags"]


class Mode(enum.Enum):
    """What each side learns."""

    MUTUAL = "mutual"  # each side learns which of its own elements are in the intersection
    COUNT_ONLY = "count-only"  # each side learns only the size of the intersection


@dataclass(frozen=True)
class Open:
    """Initiator -> responder: the suite, the mode and the initiator's announced set size."""

    suite: str
    mode: Mode
    set_size: int


@dataclass(frozen=True)
class Accept:
    """Responder -> initiator: the responder's announced set size and the tag length for this session."""

    suite: str
    mode: Mode
    set_size: int
    tag_length: int


@dataclass(frozen=True)
class Elements:
    """A chunk of the sender's own blinded elements (concatenated, 32 bytes each), in order."""

    data: bytes


@dataclass(frozen=True)
class Tags:
    """A chunk of tags of the receiver's elements blinded by both sides.

    Mutual mode: in the order the receiver sent its elements. Count-only mode: shuffled.
    """

    data: bytes


Message = Open | Accept | Elements | Tags
