"""Applying the retention period now (a serving node does it by itself once a day)."""

from __future__ import annotations

from dataclasses import dataclass

from node.ops.context import Operations
from node.store import unit_of_work
from node.store.retention import PurgeSummary
from node.store.retention import purge as purge_expired

__all__ = ["PurgeResult", "purge"]


@dataclass(frozen=True)
class PurgeResult:
    summary: PurgeSummary
    retention_days: int
    dry_run: bool


def purge(ops: Operations, *, dry_run: bool = False) -> PurgeResult:
    """Delete closed alerts, denied requests and releases older than ``retention_days``; the purge is audited."""
    config = ops.config()
    with unit_of_work(ops.home) as db:
        summary = purge_expired(db, config.retention_days, ops.clock.now(), actor=ops.actor, dry_run=dry_run)
    return PurgeResult(summary, config.retention_days, dry_run)
