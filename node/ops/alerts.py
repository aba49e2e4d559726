"""Match alerts: list, show, confirm, dismiss."""

from __future__ import annotations

from node.alerts.book import Alert, get_alert, list_alerts
from node.alerts.book import confirm as confirm_alert
from node.alerts.book import dismiss as dismiss_alert
from node.ops.context import Operations
from node.store import reading, unit_of_work
from node.store.alerts import newest_alert_id

__all__ = ["confirm", "dismiss", "list_all", "newest_id", "show"]


def list_all(ops: Operations, status: str | None = None, peer: str | None = None) -> list[Alert]:
    with reading(ops.home) as db:
        return list_alerts(db, status, peer)


def show(ops: Operations, alert_id: int) -> Alert:
    with reading(ops.home) as db:
        return get_alert(db, alert_id)


def confirm(ops: Operations, alert_id: int) -> Alert:
    """Mark an alert as a real link worth following up; the status change and its audit entry commit together."""
    with unit_of_work(ops.home) as db:
        return confirm_alert(db, alert_id, ops.now_iso(), actor=ops.actor)


def dismiss(ops: Operations, alert_id: int, reason: str) -> Alert:
    """Dismiss an alert with the analyst's reason (kept with the alert, not in the audit log)."""
    with unit_of_work(ops.home) as db:
        return dismiss_alert(db, alert_id, reason, ops.now_iso(), actor=ops.actor)


def newest_id(ops: Operations) -> int:
    """The id of the newest alert (0 when there is none), for telling an open inbox that one arrived."""
    with reading(ops.home) as db:
        return newest_alert_id(db)
