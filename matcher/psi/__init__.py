"""Sans-io private set intersection: messages in, events and messages out."""

from matcher.psi.errors import LocalProtocolError, PolicyRefused, RemoteProtocolError
from matcher.psi.messages import Accept, Elements, Message, Mode, Open, Tags
from matcher.psi.session import (
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
)

__all__ = [
    "DEFAULT_CHUNK",
    "Accept",
    "Blinder",
    "Elements",
    "Event",
    "LocalProtocolError",
    "Message",
    "Mode",
    "Open",
    "PeerAnnounced",
    "PolicyRefused",
    "PsiResult",
    "PsiSession",
    "RemoteProtocolError",
    "Role",
    "SessionCompleted",
    "State",
    "Tags",
    "blind_in_process",
]
