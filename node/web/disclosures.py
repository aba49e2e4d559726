"""The disclosure inbox, the release page, and the four-eyes decisions on prepared steps."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from node.core.errors import LocalError
from node.ops import cases as ops_cases
from node.ops import disclosure as ops_disclosure
from node.ops import proposals as ops_proposals
from node.ops.proposals import DECIDING_ROLES
from node.web.auth import CASE_ROLES, Viewer, flash, guarded, return_to
from node.web.render import page

__all__ = ["approve_proposal", "deliver", "deny", "disclosure_page", "disclosures", "reject_proposal", "release"]


@guarded(CASE_ROLES)
async def disclosures(request: Request, viewer: Viewer) -> Response:
    def state() -> dict[str, Any]:
        return {
            "incoming": ops_disclosure.list_all(viewer.ops, "incoming"),
            "outgoing": ops_disclosure.list_all(viewer.ops, "outgoing"),
            "waiting": ops_proposals.list_all(viewer.ops, status="waiting"),
        }

    return page(request, "disclosures.html", viewer, **(await run_in_threadpool(state)))


@guarded(CASE_ROLES)
async def disclosure_page(request: Request, viewer: Viewer) -> Response:
    disclosure_id = int(request.path_params["disclosure_id"])

    def state() -> dict[str, Any]:
        d = ops_disclosure.show(viewer.ops, disclosure_id)
        proposals = ops_proposals.list_all(viewer.ops, disclosure_id=disclosure_id)
        case = None
        if d.direction == "incoming" and d.case_ref:
            case = next((c for c in ops_cases.list_all(viewer.ops) if c.case_ref == d.case_ref), None)
        return {
            "d": d,
            "proposals": proposals,
            "waiting": any(p.status == "waiting" for p in proposals),
            "case": case,
            "four_eyes": viewer.ops.config().four_eyes,
        }

    return page(request, "disclosure.html", viewer, can_act=True, **(await run_in_threadpool(state)))


def _back(request: Request, key: str, to: str) -> int:
    number = int(request.path_params[key])
    return_to(request, to.format(number))
    return number


@guarded(CASE_ROLES)
async def release(request: Request, viewer: Viewer) -> Response:
    """Prepare a release of the chosen fields (four eyes), or release them at once when four eyes is off
    and the user is an approver."""
    disclosure_id = _back(request, "disclosure_id", "/disclosures/{}")
    form = await request.form()
    fields = [str(f) for f in form.getlist("fields")]
    if not fields:
        raise LocalError("choose at least one field to release, or deny the request")
    if viewer.ops.config().four_eyes:
        proposal = await run_in_threadpool(ops_proposals.prepare_release, viewer.ops, disclosure_id, fields)
        flash(request, f"Release prepared (proposal {proposal.id}); an approver other than you releases it.")
    else:
        ops_proposals.check_role(viewer.role, DECIDING_ROLES, "release case details")
        sent = await run_in_threadpool(ops_disclosure.approve, viewer.ops, disclosure_id, fields)
        flash(request, f"Released {', '.join(sent.disclosure.fields)} to {sent.peer}.")
    return RedirectResponse(f"/disclosures/{disclosure_id}", status_code=303)


@guarded(DECIDING_ROLES)
async def deny(request: Request, viewer: Viewer) -> Response:
    disclosure_id = _back(request, "disclosure_id", "/disclosures/{}")
    form = await request.form()
    sent = await run_in_threadpool(ops_disclosure.deny, viewer.ops, disclosure_id, str(form.get("reason", "")))
    flash(request, f"Request {disclosure_id} denied; {sent.peer} was told why.")
    return RedirectResponse(f"/disclosures/{disclosure_id}", status_code=303)


@guarded(CASE_ROLES)
async def deliver(request: Request, viewer: Viewer) -> Response:
    disclosure_id = _back(request, "disclosure_id", "/disclosures/{}")
    sent = await run_in_threadpool(ops_disclosure.deliver, viewer.ops, disclosure_id)
    flash(request, f"Delivered to {sent.peer}.")
    return RedirectResponse(f"/disclosures/{disclosure_id}", status_code=303)


def _proposal_page(viewer: Viewer, proposal_id: int) -> str:
    proposal = ops_proposals.show(viewer.ops, proposal_id)
    if proposal.kind == "request":
        return f"/alerts/{proposal.alert_id}"
    return f"/disclosures/{proposal.disclosure_id}"


@guarded(DECIDING_ROLES)
async def approve_proposal(request: Request, viewer: Viewer) -> Response:
    proposal_id = int(request.path_params["proposal_id"])
    back = await run_in_threadpool(_proposal_page, viewer, proposal_id)
    return_to(request, back)
    sent = await run_in_threadpool(ops_proposals.approve, viewer.ops, proposal_id)
    what = "Request sent" if sent.disclosure.direction == "outgoing" else "Released"
    flash(request, f"{what} to {sent.peer} (disclosure {sent.disclosure.id}).")
    return RedirectResponse(back, status_code=303)


@guarded(DECIDING_ROLES)
async def reject_proposal(request: Request, viewer: Viewer) -> Response:
    proposal_id = int(request.path_params["proposal_id"])
    back = await run_in_threadpool(_proposal_page, viewer, proposal_id)
    return_to(request, back)
    form = await request.form()
    await run_in_threadpool(ops_proposals.reject, viewer.ops, proposal_id, str(form.get("reason", "")))
    flash(request, f"Proposal {proposal_id} rejected.")
    return RedirectResponse(back, status_code=303)
