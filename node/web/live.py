"""Server-sent events for an open inbox: one ``alerts`` event whenever a new alert is stored.

New alerts are written by whichever process ran the session (this server as responder, a ``match``
command as initiator), so the stream watches the database itself: every :data:`POLL_SECONDS` it reads
the newest alert id, a single indexed lookup. A comment line goes out every :data:`KEEPALIVE_SECONDS` so
proxies keep the connection open. The stream ends when the browser goes away or the console stops.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from node.ops import alerts as ops_alerts
from node.web.auth import CASE_ROLES, Viewer, guarded

__all__ = ["KEEPALIVE_SECONDS", "POLL_SECONDS", "events"]

POLL_SECONDS = 1.0
KEEPALIVE_SECONDS = 15.0


@guarded(CASE_ROLES)
async def events(request: Request, viewer: Viewer) -> Response:
    stopping: asyncio.Event = request.app.state.stopping

    async def stream() -> AsyncIterator[str]:
        seen = await asyncio.to_thread(ops_alerts.newest_id, viewer.ops)
        yield f"retry: 3000\nevent: hello\ndata: {seen}\n\n"
        quiet = 0.0
        while not stopping.is_set() and not await request.is_disconnected():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), POLL_SECONDS)
            newest = await asyncio.to_thread(ops_alerts.newest_id, viewer.ops)
            if newest != seen:
                seen, quiet = newest, 0.0
                yield f"event: alerts\ndata: {newest}\n\n"
            else:
                quiet += POLL_SECONDS
                if quiet >= KEEPALIVE_SECONDS:
                    quiet = 0.0
                    yield ": keep-alive\n\n"

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"x-accel-buffering": "no"})
