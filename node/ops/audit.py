"""The audit log: list and verify."""

from __future__ import annotations

from dataclasses import dataclass

from node.ops.context import Operations
from node.store import audit as audit_log
from node.store import reading
from node.store.audit import AuditEntry, AuditProblem

__all__ = ["Verification", "about", "event_names", "list_entries", "verify"]


@dataclass(frozen=True)
class Verification:
    entries: int
    problems: tuple[AuditProblem, ...]

    @property
    def intact(self) -> bool:
        return not self.problems


def verify(ops: Operations) -> Verification:
    """Recompute the hash chain; every changed, deleted or reordered entry is named."""
    with reading(ops.home) as db:
        problems = audit_log.verify(db)
        count = audit_log.count(db)
    return Verification(int(count), tuple(problems))


def list_entries(ops: Operations, limit: int | None = None, event: str | None = None) -> list[AuditEntry]:
    with reading(ops.home) as db:
        return audit_log.entries(db, limit=limit, event=event)


def about(ops: Operations, subjects: list[str]) -> list[AuditEntry]:
    """What the log says about these subjects (``alert:7``, ``disclosure:3``, ``proposal:2``), in order."""
    with reading(ops.home) as db:
        return audit_log.entries_about(db, subjects)


def event_names(ops: Operations) -> list[str]:
    with reading(ops.home) as db:
        return audit_log.event_names(db)
