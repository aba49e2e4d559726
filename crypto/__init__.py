"""Pure cryptography for casebridge: suites, keyed hash, hash-to-group, blinding, element validation.

Imports nothing of ours. Callers get whole-set recipes; scalars never leave :class:`BlindingKey`.
"""

from crypto.blinding import HANDLE_LENGTH, BlindingKey, blinding_engine, pair_handle, tag_length_for, tags_of
from crypto.errors import CryptoError, CryptoUsageError, InvalidElement, InvalidSignature
from crypto.suite import DEFAULT_SUITE, SUITES, Suite, negotiate, suite_by_name

__all__ = [
    "DEFAULT_SUITE",
    "HANDLE_LENGTH",
    "SUITES",
    "BlindingKey",
    "CryptoError",
    "CryptoUsageError",
    "InvalidElement",
    "InvalidSignature",
    "Suite",
    "blinding_engine",
    "negotiate",
    "pair_handle",
    "suite_by_name",
    "tag_length_for",
    "tags_of",
]
