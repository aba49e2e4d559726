"""The console's ASGI application: routes, and the middleware every request passes through.

Outermost first: security headers; CSRF (a signed token in a cookie that every state-changing form must
echo back; the login form too); the signed session cookie; then the routes. Cookie names carry the agency
code, so consoles of two nodes on one host never overwrite each other's cookies; each node signs with its own
secret, so a cookie one node issued means nothing to another.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from asgi_csrf import asgi_csrf
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Scope, Send

from node.core.home import NodeHome
from node.web import admin, alerts, disclosures, live, session
from node.web.security import SecurityHeaders

__all__ = ["cookie_names", "create_app"]

_STATIC = Path(__file__).parent / "static"


def cookie_names(agency: str) -> tuple[str, str]:
    """(session cookie, CSRF cookie) for a node's console."""
    slug = re.sub(r"[^A-Za-z0-9]", "_", agency)
    return f"casebridge_session_{slug}", f"casebridge_csrf_{slug}"


def _routes() -> list[BaseRoute]:
    """Every page and form of the console; each handler checks its own roles."""
    return [
        Route("/login", session.login_form, methods=["GET"]),
        Route("/login", session.login, methods=["POST"]),
        Route("/logout", session.logout, methods=["POST"]),
        Route("/", alerts.inbox, methods=["GET"]),
        Route("/inbox/rows", alerts.inbox_rows, methods=["GET"]),
        Route("/events", live.events, methods=["GET"]),
        Route("/alerts/bulk", alerts.bulk, methods=["POST"]),
        Route("/alerts/{alert_id:int}", alerts.alert_page, methods=["GET"]),
        Route("/alerts/{alert_id:int}/confirm", alerts.confirm, methods=["POST"]),
        Route("/alerts/{alert_id:int}/dismiss", alerts.dismiss, methods=["POST"]),
        Route("/alerts/{alert_id:int}/request", alerts.request_details, methods=["POST"]),
        Route("/disclosures", disclosures.disclosures, methods=["GET"]),
        Route("/disclosures/{disclosure_id:int}", disclosures.disclosure_page, methods=["GET"]),
        Route("/disclosures/{disclosure_id:int}/release", disclosures.release, methods=["POST"]),
        Route("/disclosures/{disclosure_id:int}/deny", disclosures.deny, methods=["POST"]),
        Route("/disclosures/{disclosure_id:int}/deliver", disclosures.deliver, methods=["POST"]),
        Route("/proposals/{proposal_id:int}/approve", disclosures.approve_proposal, methods=["POST"]),
        Route("/proposals/{proposal_id:int}/reject", disclosures.reject_proposal, methods=["POST"]),
        Route("/cases", admin.cases, methods=["GET"]),
        Route("/audit", admin.audit_page, methods=["GET"]),
        Route("/users", admin.users, methods=["GET"]),
        Route("/users", admin.add_user, methods=["POST"]),
        Route("/users/{name:str}/remove", admin.remove_user, methods=["POST"]),
        Mount("/static", StaticFiles(directory=_STATIC), name="static"),
    ]


async def _csrf_failed(scope: Scope, send: Send, message_id: object) -> None:
    body = (
        b"<!doctype html><title>Form refused</title><h1>Form refused</h1><p>This form was not sent from this "
        b"node's console page, or the page is too old (the security token did not match). Go back, reload the "
        b"page and send it again.</p>"
    )
    await send(
        {"type": "http.response.start", "status": 403, "headers": [(b"content-type", b"text/html; charset=utf-8")]}
    )
    await send({"type": "http.response.body", "body": body})


def create_app(
    home: NodeHome,
    agency: str,
    secret: bytes,
    *,
    https: bool,
    session_minutes: int,
    stopping: asyncio.Event | None = None,
) -> ASGIApp:
    """The console for the node in ``home``; ``secret`` signs its session and CSRF cookies."""
    session_cookie, csrf_cookie = cookie_names(agency)
    routes = _routes()
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(
                SessionMiddleware,
                secret_key=secret.hex(),
                session_cookie=session_cookie,
                max_age=session_minutes * 60,
                same_site="strict",
                https_only=https,
            )
        ],
    )
    app.state.home = home
    app.state.agency = agency
    app.state.stopping = stopping or asyncio.Event()  # set: live streams end
    protected = asgi_csrf(
        app,
        signing_secret=secret.hex(),
        cookie_name=csrf_cookie,
        cookie_samesite="Strict",
        cookie_secure=https,
        always_protect={"/login", "/logout"},
        send_csrf_failed=_csrf_failed,
    )
    return SecurityHeaders(protected, https=https)
