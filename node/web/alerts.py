"""The alert inbox and the alert page: read, filter, group, confirm, dismiss, and ask for details."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from matcher.identifiers import KEY_TYPES
from node.alerts.book import Alert
from node.core.errors import LocalError
from node.ops import alerts as ops_alerts
from node.ops import audit as ops_audit
from node.ops import disclosure as ops_disclosure
from node.ops import proposals as ops_proposals
from node.ops import users as ops_users
from node.web.auth import CASE_ROLES, Viewer, flash, guarded, local_path, return_to
from node.web.render import page, templates

__all__ = ["alert_page", "bulk", "confirm", "dismiss", "inbox", "inbox_rows", "request_details"]


@dataclass(frozen=True)
class Filters:
    peer: str = ""
    key_type: str = ""
    tier: str = ""
    status: str = ""
    case: str = ""
    since: str = ""
    until: str = ""

    @classmethod
    def of(cls, request: Request) -> Filters:
        q = request.query_params
        return cls(**{name: q.get(name, "").strip()[:100] for name in cls.__dataclass_fields__})

    def keep(self, a: Alert) -> bool:
        day = a.created_at[:10]
        return (
            (not self.peer or a.peer == self.peer)
            and (not self.key_type or any(k.key_type == self.key_type for k in a.keys))
            and (not self.tier or a.tier == self.tier)
            and (not self.status or a.status == self.status)
            and (not self.case or self.case.casefold() in a.case_ref.casefold())
            and (not self.since or day >= self.since)
            and (not self.until or day <= self.until)
        )

    def query(self, grouped: bool) -> str:
        pairs = [(k, v) for k, v in self.__dict__.items() if v]
        return urlencode(pairs + ([("group", "case")] if grouped else []))


def _groups(alerts: list[Alert], grouped: bool) -> list[tuple[str, list[Alert]]]:
    if not grouped:
        return [("", alerts)] if alerts else []
    by_case: dict[str, list[Alert]] = {}
    for a in alerts:
        by_case.setdefault(a.case_ref, []).append(a)
    return sorted(by_case.items())


def _inbox_state(viewer: Viewer, filters: Filters) -> tuple[list[Alert], set[int], list[str]]:
    every = ops_alerts.list_all(viewer.ops)
    read = ops_users.read_alert_ids(viewer.ops, viewer.name)
    peers = sorted({a.peer for a in every})
    shown = sorted((a for a in every if filters.keep(a)), key=lambda a: a.id, reverse=True)
    return shown, read, peers


@guarded(CASE_ROLES)
async def inbox(request: Request, viewer: Viewer) -> Response:
    filters = Filters.of(request)
    grouped = request.query_params.get("group") == "case"
    shown, read, peers = await run_in_threadpool(_inbox_state, viewer, filters)
    query = filters.query(grouped)
    return page(
        request, "inbox.html", viewer, f=filters, grouped=grouped, groups=_groups(shown, grouped), read=read,
        peers=peers, key_types=KEY_TYPES, total=len(shown), unread=sum(1 for a in shown if a.id not in read),
        query=query, back="/" + (f"?{query}" if query else ""), newest=max((a.id for a in shown), default=0),
    )  # fmt: skip


@guarded(CASE_ROLES)
async def inbox_rows(request: Request, viewer: Viewer) -> Response:
    """The inbox's rows alone, for the live refresh of an open inbox."""
    filters = Filters.of(request)
    grouped = request.query_params.get("group") == "case"
    shown, read, _ = await run_in_threadpool(_inbox_state, viewer, filters)
    response: HTMLResponse = templates.TemplateResponse(
        request, "_rows.html", {"groups": _groups(shown, grouped), "grouped": grouped, "read": read}
    )
    response.headers["x-unread"] = str(sum(1 for a in shown if a.id not in read))
    response.headers["x-total"] = str(len(shown))
    return response


def _alert_state(viewer: Viewer, alert_id: int) -> dict[str, Any]:
    alert = ops_alerts.show(viewer.ops, alert_id)
    ops_users.mark_read(viewer.ops, viewer.name, alert_id)
    disclosures = [d for d in ops_disclosure.list_all(viewer.ops, "outgoing") if d.alert_id == alert_id]
    proposals = ops_proposals.list_all(viewer.ops, alert_id=alert_id)
    subjects = (
        [f"alert:{alert_id}"] + [f"disclosure:{d.id}" for d in disclosures] + [f"proposal:{p.id}" for p in proposals]
    )
    return {
        "a": alert,
        "disclosures": disclosures,
        "proposals": proposals,
        "history": ops_audit.about(viewer.ops, subjects),
        "four_eyes": viewer.ops.config().four_eyes,
    }


@guarded(CASE_ROLES)
async def alert_page(request: Request, viewer: Viewer) -> Response:
    alert_id = int(request.path_params["alert_id"])
    state = await run_in_threadpool(_alert_state, viewer, alert_id)
    alert = state["a"]
    assert isinstance(alert, Alert)
    waiting = any(p.status == "waiting" for p in state["proposals"])
    return page(
        request, "alert.html", viewer, can_decide=True,
        can_request=alert.status != "dismissed" and not waiting, **state,
    )  # fmt: skip


def _back_to_alert(request: Request) -> int:
    alert_id = int(request.path_params["alert_id"])
    return_to(request, f"/alerts/{alert_id}")
    return alert_id


@guarded(CASE_ROLES)
async def confirm(request: Request, viewer: Viewer) -> Response:
    alert_id = _back_to_alert(request)
    await run_in_threadpool(ops_alerts.confirm, viewer.ops, alert_id)
    flash(request, f"Alert {alert_id} confirmed.")
    return RedirectResponse(f"/alerts/{alert_id}", status_code=303)


@guarded(CASE_ROLES)
async def dismiss(request: Request, viewer: Viewer) -> Response:
    alert_id = _back_to_alert(request)
    form = await request.form()
    reason = str(form.get("reason", "")).strip()
    if not reason:
        raise LocalError("give a reason to dismiss an alert")
    await run_in_threadpool(ops_alerts.dismiss, viewer.ops, alert_id, reason)
    flash(request, f"Alert {alert_id} dismissed.")
    return RedirectResponse(f"/alerts/{alert_id}", status_code=303)


def _ids(values: Iterable[object]) -> list[int]:
    ids = []
    for value in values:
        text = str(value)
        if not text.isdigit():
            raise LocalError("select alerts by their number")
        ids.append(int(text))
    return ids


@guarded(CASE_ROLES)
async def bulk(request: Request, viewer: Viewer) -> Response:
    form = await request.form()
    back = local_path(str(form.get("back", "/")))
    return_to(request, back)
    action = str(form.get("action", ""))
    ids = _ids(form.getlist("ids"))
    if not ids:
        raise LocalError("select at least one alert first")
    if action == "confirm":
        for alert_id in ids:
            await run_in_threadpool(ops_alerts.confirm, viewer.ops, alert_id)
    elif action == "dismiss":
        reason = str(form.get("reason", "")).strip()
        if not reason:
            raise LocalError("give a reason to dismiss the selected alerts")
        for alert_id in ids:
            await run_in_threadpool(ops_alerts.dismiss, viewer.ops, alert_id, reason)
    else:
        raise LocalError("choose Confirm selected or Dismiss selected")
    flash(request, f"{len(ids)} alert(s) {action}ed.")
    return RedirectResponse(back, status_code=303)


@guarded(CASE_ROLES)
async def request_details(request: Request, viewer: Viewer) -> Response:
    alert_id = _back_to_alert(request)
    form = await request.form()
    purpose, legal_basis, handling = (str(form.get(k, "")) for k in ("purpose", "legal_basis", "handling"))
    if not handling:
        raise LocalError("choose a handling code for the request")
    if viewer.ops.config().four_eyes:
        proposal = await run_in_threadpool(
            ops_proposals.prepare_request, viewer.ops, alert_id, purpose, legal_basis, handling
        )
        flash(request, f"Request prepared (proposal {proposal.id}); an approver other than you sends it.")
    else:
        sent = await run_in_threadpool(ops_disclosure.request, viewer.ops, alert_id, purpose, legal_basis, handling)
        flash(request, f"Request {sent.disclosure.id} sent to {sent.peer}.")
    return RedirectResponse(f"/alerts/{alert_id}", status_code=303)
