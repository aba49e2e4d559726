"""The analyst console: server-rendered pages over the operations layer, served by ``casebridge serve``.

Handlers are small functions that check who is asking (their role, read from the database on every
request), call :mod:`node.ops`, and render plain HTML; the only script is a small progressive enhancement
that refreshes the open inbox when a new alert arrives (server-sent events). Sessions, CSRF protection and
security headers are middleware around every route.
"""

from node.web.app import create_app
from node.web.server import ConsoleServer, console_secret

__all__ = ["ConsoleServer", "console_secret", "create_app"]
