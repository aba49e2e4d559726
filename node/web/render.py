"""Templates and what every page is given."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.templating import Jinja2Templates

from node.disclosure import HANDLING_CODES, HANDLING_MEANING, RELEASABLE_FIELDS, SAFEGUARDING_NOTE
from node.web.auth import Viewer

__all__ = ["page", "templates"]

_ENV = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
templates = Jinja2Templates(env=_ENV)


def csrf_token(request: Request) -> str:
    token: str = request.scope["csrftoken"]()
    return token


def page(request: Request, name: str, viewer: Viewer | None, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render ``name`` with the viewer, this node's agency, the CSRF token and any message left for it."""
    message = request.session.pop("flash", None) if "session" in request.scope else None
    base = {
        "viewer": viewer,
        "agency": request.app.state.agency,
        "csrftoken": csrf_token(request),
        "flash": message,
        "handling_codes": HANDLING_CODES,
        "handling_meaning": HANDLING_MEANING,
        "releasable": RELEASABLE_FIELDS,
        "safeguarding_note": SAFEGUARDING_NOTE,
        "path": request.url.path,
    }
    response: HTMLResponse = templates.TemplateResponse(request, name, {**base, **context}, status_code=status_code)
    return response
