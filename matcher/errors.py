"""The errors of the pure domain: an identifier that cannot be normalised, a PSI protocol violation.

``matcher`` raises them by fault (our caller's or the peer's); the node maps them to exit codes and status
codes at its edges (``node/core/errors.py``). Messages never carry an identifier's value.
"""

from __future__ import annotations

__all__ = ["MatcherError"]


class MatcherError(Exception):
    """Root of every error ``matcher`` raises on purpose."""
