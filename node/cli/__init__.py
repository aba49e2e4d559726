"""The ``casebridge`` command line: thin commands over the node's services.

Each command group lives in its own module and registers itself on :data:`main`. Errors raised on purpose
(:data:`~node.core.errors.EXPECTED_ERRORS`) become a one-line message on stderr and exit code 1.
"""

from __future__ import annotations

from node.cli import alerts as _alerts  # noqa: F401  (registers commands)
from node.cli import audit as _audit  # noqa: F401
from node.cli import bench as _bench  # noqa: F401
from node.cli import bench_import as _bench_import  # noqa: F401
from node.cli import cases as _cases  # noqa: F401
from node.cli import demo as _demo  # noqa: F401
from node.cli import disclose as _disclose  # noqa: F401
from node.cli import health as _health  # noqa: F401
from node.cli import identity as _identity  # noqa: F401
from node.cli import match as _match  # noqa: F401
from node.cli import normalize as _normalize  # noqa: F401
from node.cli import peers as _peers  # noqa: F401
from node.cli import purge as _purge  # noqa: F401
from node.cli import schedule as _schedule  # noqa: F401
from node.cli import serve as _serve  # noqa: F401
from node.cli import users as _users  # noqa: F401
from node.cli.app import main

__all__ = ["main"]
