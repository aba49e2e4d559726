"""Who is asking: the logged-in user behind a request, and the role checks every handler goes through.

The session cookie (signed with this node's console secret, ``HttpOnly``, ``SameSite=Strict``, expiring)
holds only the user name and a stamp of the password hash. On every request the user is read again from the
database: a removed user, a changed password or a cookie signed by another node's secret is logged out,
and the role that decides what the user may do is the one stored now, never one carried in the cookie.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from node.core.errors import EXPECTED_ERRORS
from node.core.home import NodeHome
from node.ops import Operations
from node.ops import users as ops_users
from node.ops.users import User, web_actor

__all__ = [
    "ALL_ROLES", "CASE_ROLES", "Handler", "Viewer", "flash", "guarded", "local_path", "return_to", "viewer_of",
]  # fmt: skip

log = logging.getLogger("casebridge.console")

ALL_ROLES = ("analyst", "approver", "admin")
# Who works on cases: admins manage users and read the audit log, but decide nothing.
CASE_ROLES = ("analyst", "approver")


@dataclass(frozen=True)
class Viewer:
    user: User
    ops: Operations

    @property
    def name(self) -> str:
        return self.user.name

    @property
    def role(self) -> str:
        return self.user.role


Handler = Callable[[Request, Viewer], Awaitable[Response]]


def home_of(request: Request) -> NodeHome:
    home: NodeHome = request.app.state.home
    return home


async def viewer_of(request: Request) -> Viewer | None:
    """The user this request's session names, if it is still valid; None otherwise."""
    name = request.session.get("user")
    stamp = request.session.get("stamp")
    if not isinstance(name, str) or not isinstance(stamp, str):
        return None
    home = home_of(request)
    user = await run_in_threadpool(ops_users.current, Operations(home, web_actor(name)), name)
    if user is None or user.stamp != stamp:
        request.session.clear()
        return None
    return Viewer(user, Operations(home, web_actor(user.name)))


def local_path(target: str | None, default: str = "/") -> str:
    """``target`` when it is a path on this console (never another site), else ``default``."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def flash(request: Request, text: str, kind: str = "info") -> None:
    """A message for the next page this user sees (after a redirect)."""
    request.session["flash"] = {"text": text, "kind": kind}


def guarded(roles: tuple[str, ...]) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    """Only logged-in users with one of ``roles`` reach the handler.

    A request without a valid session is refused: pages redirect to the login page, anything else gets
    401 and changes nothing. A user with another role gets 403. An error a use case raises on a form post
    (a bad value, a four-eyes refusal, an unreachable peer) goes back to the page it came from as a message.
    """

    def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            viewer = await viewer_of(request)
            if viewer is None:
                if request.method in ("GET", "HEAD"):
                    target = quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
                    return RedirectResponse(f"/login?next={target}", status_code=303)
                return PlainTextResponse("Log in first.", status_code=401)
            if viewer.role not in roles:
                return PlainTextResponse(f"A user with the role {viewer.role!r} cannot do this.", status_code=403)
            try:
                return await handler(request, viewer)
            except EXPECTED_ERRORS as exc:
                if request.method in ("GET", "HEAD"):
                    return PlainTextResponse(str(exc), status_code=404)
                flash(request, str(exc), "error")
                back = local_path(_form_back(request), request.url.path)
                return RedirectResponse(back, status_code=303)

        endpoint.__name__ = handler.__name__
        return endpoint

    return wrap


_BACK = "casebridge.back"


def return_to(request: Request, path: str) -> None:
    """Where a form post goes back to when its use case refuses it (the message is shown there)."""
    request.scope[_BACK] = path


def _form_back(request: Request) -> str | None:
    back: Any = request.scope.get(_BACK)
    return back if isinstance(back, str) else None
