"""The two-step follow-up after a hit: request, owner's decision, signed release -- storage and rules.

No network here (``node/net/disclosure_*`` carries the calls) and no clock (callers pass ``at``).

Rules this module enforces:
* a request names only the shared match handle, never a case reference; the owner looks the handle up among
  its own alerts *with the requesting agency*, so an agency that is not the match partner learns nothing;
* the owner releases exactly the fields it approves, in a ``Release`` signed by its node key; the requester
  stores it only after checking the signature against the certificate it pinned for that owner, that the
  release answers a request it made to that owner, and that it is addressed to us;
* a release whose persons include a victim carries the safeguarding marker, and the requester's alert gets it;
* every step appends an audit entry in the same transaction.
"""

from node.disclosure.model import (
    HANDLING_CODES,
    HANDLING_MEANING,
    RELEASABLE_FIELDS,
    RELEASE_CONTEXT,
    SAFEGUARDING_NOTE,
    Disclosure,
    OutgoingRequest,
    ReleaseRefused,
    get_disclosure,
    list_disclosures,
    mark_delivery,
)
from node.disclosure.owner import (
    accept_request,
    build_release,
    denial_for,
    record_approval,
    record_denial,
    stored_decision,
)
from node.disclosure.requester import (
    accept_denial,
    accept_release,
    prepare_request,
    record_outgoing,
    record_owner_refusal,
    stored_request,
)

__all__ = [
    "HANDLING_CODES",
    "HANDLING_MEANING",
    "RELEASABLE_FIELDS",
    "RELEASE_CONTEXT",
    "SAFEGUARDING_NOTE",
    "Disclosure",
    "OutgoingRequest",
    "ReleaseRefused",
    "accept_denial",
    "accept_release",
    "accept_request",
    "build_release",
    "denial_for",
    "get_disclosure",
    "list_disclosures",
    "mark_delivery",
    "prepare_request",
    "record_approval",
    "record_denial",
    "record_outgoing",
    "record_owner_refusal",
    "stored_decision",
    "stored_request",
]
