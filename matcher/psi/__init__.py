"""Sans-io private set intersection: messages in, events and messages out."""

from matcher.psi.errors import (
    EpochEnded,
    LocalProtocolError,
    PeerMisbehaved,
    PolicyRefused,
    RemoteProtocolError,
    VersionMismatch,
)
from matcher.psi.messages import PROTOCOL_VERSION, Accept, Elements, Message, Mode, Open, Result, Tags
from matcher.psi.session import (
    CANARIES,
    DEFAULT_CHUNK,
    Blinder,
    Event,
    PeerAnnounced,
    PsiResult,
    PsiSession,
    Role,
    SessionCompleted,
    State,
    blind_in_process,
    check_open,
)

__all__ = [
    "CANARIES",
    "DEFAULT_CHUNK",
    "PROTOCOL_VERSION",
    "Accept",
    "Blinder",
    "Elements",
    "EpochEnded",
    "Event",
    "LocalProtocolError",
    "Message",
    "Mode",
    "Open",
    "PeerAnnounced",
    "PeerMisbehaved",
    "PolicyRefused",
    "PsiResult",
    "PsiSession",
    "RemoteProtocolError",
    "Result",
    "Role",
    "SessionCompleted",
    "State",
    "Tags",
    "VersionMismatch",
    "blind_in_process",
    "check_open",
]
