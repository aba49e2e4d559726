"""Logging in and out."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from node.ops import Operations
from node.ops import users as ops_users
from node.ops.users import LoginRefused
from node.web.auth import home_of, local_path, viewer_of
from node.web.render import page

__all__ = ["login", "login_form", "logout"]


async def login_form(request: Request) -> Response:
    if await viewer_of(request) is not None:
        return RedirectResponse(local_path(request.query_params.get("next")), status_code=303)
    return page(request, "login.html", None, next=local_path(request.query_params.get("next")), error=None)


async def login(request: Request) -> Response:
    form = await request.form()
    name, password = str(form.get("username", "")), str(form.get("password", ""))
    target = local_path(str(form.get("next", "")))
    ops = Operations(home_of(request), "web:login")
    try:
        user = await run_in_threadpool(ops_users.authenticate, ops, name[:200], password[:1000])
    except LoginRefused as exc:
        status = 429 if exc.throttled else 401
        return page(request, "login.html", None, status_code=status, next=target, error=str(exc))
    request.session.clear()
    request.session.update({"user": user.name, "stamp": user.stamp})
    return RedirectResponse(target, status_code=303)


async def logout(request: Request) -> Response:
    request.session.clear()
    return RedirectResponse("/login", status_code=303)
