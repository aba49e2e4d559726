"""Retention: what the node stops keeping after ``retention_days``.

Purged once they have not changed for that many days:
* alerts that are closed -- dismissed, gone (their match disappeared), or belonging to a closed case -- with
  their matched keys;
* denied disclosure requests, both directions, and our requests the owner's node refused outright;
* releases: approved disclosures with the released content, both directions.

Pending requests and open alerts are never purged, whatever their age. The audit log is never purged; it
records each purge with its counts and cut-off.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlite_utils import Database

from node.store import audit as audit

__all__ = ["PurgeSummary", "purge"]

_CLOSED_ALERTS = (
    "SELECT a.id FROM alerts a JOIN cases c ON c.id = a.case_id"
    " WHERE a.updated_at < ? AND (a.status = 'dismissed' OR a.match_state = 'gone' OR c.status = 'closed')"
    " AND NOT EXISTS (SELECT 1 FROM disclosures d WHERE d.alert_id = a.id AND d.status = 'pending')"
)


@dataclass(frozen=True)
class PurgeSummary:
    cutoff: str
    alerts: int
    denied_requests: int
    releases: int

    def as_json(self) -> dict[str, object]:
        return asdict(self)


def purge(db: Database, retention_days: int, now: datetime, *, actor: str, dry_run: bool = False) -> PurgeSummary:
    """Delete what is past retention. Call inside a transaction (a dry run changes nothing)."""
    cutoff = (now - timedelta(days=retention_days)).isoformat(timespec="seconds")
    conn = db.conn
    alert_ids = [r[0] for r in conn.execute(_CLOSED_ALERTS, (cutoff,)).fetchall()]
    denied = [
        r[0]
        for r in conn.execute(
            "SELECT id FROM disclosures WHERE status IN ('denied', 'refused') AND updated_at < ?", (cutoff,)
        ).fetchall()
    ]
    released = [
        r[0]
        for r in conn.execute(
            "SELECT id FROM disclosures WHERE status = 'approved' AND updated_at < ?", (cutoff,)
        ).fetchall()
    ]
    summary = PurgeSummary(cutoff, len(alert_ids), len(denied), len(released))
    if dry_run or not (alert_ids or denied or released):
        return summary
    conn.executemany("DELETE FROM disclosures WHERE id = ?", [(i,) for i in denied + released])
    conn.executemany("DELETE FROM alerts WHERE id = ?", [(i,) for i in alert_ids])
    audit.append(
        db,
        "retention.purged",
        at=now.isoformat(timespec="seconds"),
        cutoff=cutoff,
        retention_days=retention_days,
        alerts=len(alert_ids),
        denied_requests=len(denied),
        releases=len(released),
        actor=actor,
    )
    return summary
