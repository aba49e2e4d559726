"""The operations layer: one plain function per use case, under every front end (CLI, demo).

Each use case takes an :class:`Operations` (node home, clock, actor), owns its transaction -- its state
change and its audit entry commit together -- and returns a frozen value the front end renders. Front ends
parse input and print; they never open the database or build wire messages themselves.
"""

from __future__ import annotations

from node.ops.context import Operations, cli_actor

__all__ = ["Operations", "cli_actor"]
