"""Cases, the audit log, and (for admins) console users."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from node.ops import alerts as ops_alerts
from node.ops import audit as ops_audit
from node.ops import cases as ops_cases
from node.ops import users as ops_users
from node.web.auth import ALL_ROLES, CASE_ROLES, Viewer, flash, guarded, return_to
from node.web.render import page

__all__ = ["add_user", "audit_page", "cases", "remove_user", "users"]

AUDIT_PAGE = 200


@guarded(CASE_ROLES)
async def cases(request: Request, viewer: Viewer) -> Response:
    q = request.query_params.get("q", "").strip()[:100]
    status = request.query_params.get("status", "all")
    if status not in ("all", "open", "closed"):
        status = "all"

    def state() -> dict[str, Any]:
        rows = [c for c in ops_cases.list_all(viewer.ops, status) if q.casefold() in c.case_ref.casefold()]  # type: ignore[arg-type]
        counts: dict[str, int] = {}
        for a in ops_alerts.list_all(viewer.ops):
            counts[a.case_ref] = counts.get(a.case_ref, 0) + 1
        return {"rows": rows, "alert_counts": counts}

    return page(request, "cases.html", viewer, q=q, status=status, **(await run_in_threadpool(state)))


@guarded(ALL_ROLES)
async def audit_page(request: Request, viewer: Viewer) -> Response:
    event = request.query_params.get("event", "").strip()[:100] or None

    def state() -> dict[str, Any]:
        entries = ops_audit.list_entries(viewer.ops, limit=AUDIT_PAGE, event=event)
        return {
            "verification": ops_audit.verify(viewer.ops),
            "entries": list(reversed(entries)),
            "events": ops_audit.event_names(viewer.ops),
        }

    return page(request, "audit.html", viewer, event=event or "", **(await run_in_threadpool(state)))


@guarded(("admin",))
async def users(request: Request, viewer: Viewer) -> Response:
    listed = await run_in_threadpool(ops_users.list_all, viewer.ops)
    return page(request, "users.html", viewer, users=listed, roles=ops_users.ROLES, min_password=ops_users.MIN_PASSWORD)


@guarded(("admin",))
async def add_user(request: Request, viewer: Viewer) -> Response:
    return_to(request, "/users")
    form = await request.form()
    name, role, password = (str(form.get(k, "")) for k in ("name", "role", "password"))
    user = await run_in_threadpool(ops_users.add, viewer.ops, name, role, password)
    flash(request, f"User {user.name} added as {user.role}.")
    return RedirectResponse("/users", status_code=303)


@guarded(("admin",))
async def remove_user(request: Request, viewer: Viewer) -> Response:
    return_to(request, "/users")
    name = str(request.path_params["name"])
    if name == viewer.name:
        flash(request, "You cannot remove yourself.", "error")
        return RedirectResponse("/users", status_code=303)
    await run_in_threadpool(ops_users.remove, viewer.ops, name)
    flash(request, f"User {name} removed; their sessions have ended.")
    return RedirectResponse("/users", status_code=303)
