"""Who runs a use case, where, and at what time."""

from __future__ import annotations

import getpass
from dataclasses import dataclass, field

from node.config.settings import NodeConfig, load_config
from node.core.clock import SYSTEM, Clock
from node.core.home import NodeHome

__all__ = ["Operations", "cli_actor"]


def cli_actor() -> str:
    """The actor recorded for a command typed at this machine: ``cli:<OS user name>``."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no login name and no passwd entry (some containers)
        user = "unknown"
    return f"cli:{user}"


@dataclass(frozen=True)
class Operations:
    """The node home the use cases act on, the clock they read, and the actor their audit entries name."""

    home: NodeHome
    actor: str
    clock: Clock = field(default=SYSTEM)

    def config(self) -> NodeConfig:
        return load_config(self.home)

    def now_iso(self) -> str:
        return self.clock.now_iso()
