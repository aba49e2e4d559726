"""Pure cryptography for casebridge: suites, keyed hash, hash-to-group, blinding, element validation.

Imports nothing of ours. Callers get whole-set recipes; scalars never leave :class:`BlindingKey`.
"""

from crypto.blinding import BlindingKey, tag_length_for, tags_of
from crypto.errors import CasebridgeError, InvalidElement, LocalError, RemoteError
from crypto.suite import DEFAULT_SUITE, SUITES, Suite, negotiate, suite_by_name

__all__ = [
    "DEFAULT_SUITE",
    "SUITES",
    "BlindingKey",
    "CasebridgeError",
    "InvalidElement",
    "LocalError",
    "RemoteError",
    "Suite",
    "negotiate",
    "suite_by_name",
    "tag_length_for",
    "tags_of",
]
