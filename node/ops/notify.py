"""Telling people something happened: new alerts and new disclosure requests, logged and optionally posted.

A serving node looks every two seconds for alerts and incoming disclosure requests that are new since the
last look, whichever process made them (a round it ran, a session a peer opened, a ``match`` typed at the
machine). Each batch is logged once with counts and our own row ids only, never an identifier, a case or a
peer's words. With ``[notify] webhook`` set, the batch is also posted there as JSON::

    {"agency": "NL-NP", "delivery": "<32 hex>", "alerts": {"count": 2, "ids": [41, 42]},
     "disclosure_requests": {"count": 0, "ids": []}}

signed with HMAC-SHA-256 under the key in ``[notify] secret_file`` (created when serving starts,
owner-only): the header ``X-Casebridge-Signature: t=<unix seconds>,v1=<hex>`` carries the time and
``HMAC(key, "<t>." || body)``. A post that fails (no answer, a status other than 2xx) is retried with the
same body, so the same delivery id (a receiver drops a delivery it has seen), after 5 s and then twice as
long each time, up to 5 minutes; nothing newer is posted before it, and the marks of what went out advance
only once it is delivered. At most 500 ids of each kind go in one post. When serving first starts, what
already exists counts as told.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import os
import urllib.error
import urllib.request
from dataclasses import dataclass

from node.config.settings import NotifySettings
from node.core.errors import EXPECTED_ERRORS, LocalError
from node.core.keyfile import local_key
from node.net.tls import ConfigWatch
from node.ops.background import Background, backoff
from node.ops.context import Operations
from node.store import reading, unit_of_work
from node.store import schedule as store

__all__ = ["MAX_IDS", "News", "Notifier", "WebhookFailed", "sign"]

log = logging.getLogger("casebridge.notify")

POLL_S = 2.0
RETRY_MAX_S = 300.0
MAX_IDS = 500
POST_TIMEOUT_S = 10.0
_ALERTS = "notify.alerts"
_REQUESTS = "notify.requests"


@dataclass(frozen=True)
class News:
    alerts: list[int]
    requests: list[int]
    delivery: str

    def body(self, agency: str) -> bytes:
        document = {
            "agency": agency,
            "delivery": self.delivery,
            "alerts": {"count": len(self.alerts), "ids": self.alerts},
            "disclosure_requests": {"count": len(self.requests), "ids": self.requests},
        }
        return json.dumps(document, separators=(",", ":")).encode()


def sign(key: bytes, timestamp: int, body: bytes) -> str:
    """The signature header's value for ``body`` sent at ``timestamp`` (unix seconds)."""
    mac = hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


class Notifier(Background):
    """Looks for news while the node serves; logs it and, if configured, posts it to the webhook."""

    task_name = "notifier"

    def __init__(self, ops: Operations, watch: ConfigWatch) -> None:
        super().__init__()
        self.ops = ops
        self.watch = watch
        self.delivered = 0  # batches told (tests wait on these)
        self._pending: News | None = None
        self._failures = 0

    async def _loop(self) -> None:
        with contextlib.suppress(*EXPECTED_ERRORS):
            await asyncio.to_thread(self._start_marks)
        while not self.stopping:
            try:
                await self.run_once()
            except EXPECTED_ERRORS as exc:  # a locked store, an unreadable key: logged, tried again
                self._failures += 1
                log.error("notifications failed: %s", exc)
            except Exception as exc:  # supervision: the next look still happens
                self._failures += 1
                log.error("notifications failed (unexpected error %s)", type(exc).__name__)
            await self.pause(backoff(self._failures, RETRY_MAX_S) if self._failures else POLL_S)

    def _start_marks(self) -> None:
        with unit_of_work(self.ops.home) as db:
            if store.marker(db, _ALERTS) is None:
                store.set_marker(db, _ALERTS, store.max_alert_id(db))
            if store.marker(db, _REQUESTS) is None:
                store.set_marker(db, _REQUESTS, store.max_incoming_request_id(db))
        notify = self.watch.get().notify
        if notify.secret_file is not None:
            local_key(notify.secret_file, "the notify key")  # made now, so it can be handed over first
            log.info("webhook posts are signed with the key in %s", notify.secret_file)

    async def run_once(self) -> None:
        if self._pending is None:
            self._pending = await asyncio.to_thread(self._collect)
            if self._pending is None:
                return
            _log_news(self._pending)
        config = self.watch.get()
        if config.notify.webhook is not None:
            await asyncio.to_thread(self._post, config.agency, config.notify, self._pending)
        await asyncio.to_thread(self._advance, self._pending)
        self._pending = None
        self._failures = 0
        self.delivered += 1

    def _collect(self) -> News | None:
        with reading(self.ops.home) as db:
            alerts = store.new_alert_ids(db, store.marker(db, _ALERTS) or 0, MAX_IDS)
            requests = store.new_incoming_request_ids(db, store.marker(db, _REQUESTS) or 0, MAX_IDS)
        if not alerts and not requests:
            return None
        return News(alerts, requests, os.urandom(16).hex())

    def _post(self, agency: str, settings: NotifySettings, news: News) -> None:
        assert settings.webhook is not None and settings.secret_file is not None
        key = local_key(settings.secret_file, "the notify key")
        now = self.ops.clock.now()
        body = news.body(agency)
        request = urllib.request.Request(settings.webhook, data=body, method="POST", headers={  # noqa: S310 (https or loopback, checked in the config)
            "Content-Type": "application/json",
            "User-Agent": "casebridge",
            "X-Casebridge-Signature": sign(key, int(now.timestamp()), body),
        })  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=POST_TIMEOUT_S) as response:  # noqa: S310
                code = response.status
        except urllib.error.HTTPError as exc:
            code = exc.code
        except (OSError, ValueError) as exc:
            raise WebhookFailed(f"the webhook did not answer ({type(exc).__name__}); retrying") from None
        if not 200 <= code < 300:
            raise WebhookFailed(f"the webhook answered HTTP {code}; retrying")

    def _advance(self, news: News) -> None:
        with unit_of_work(self.ops.home) as db:
            if news.alerts:
                store.set_marker(db, _ALERTS, news.alerts[-1])
            if news.requests:
                store.set_marker(db, _REQUESTS, news.requests[-1])


def _log_news(news: News) -> None:
    parts = []
    if news.alerts:
        parts.append(f"{len(news.alerts)} new alert(s) (ids {_ids(news.alerts)})")
    if news.requests:
        parts.append(f"{len(news.requests)} new disclosure request(s) (ids {_ids(news.requests)})")
    log.info("%s", "; ".join(parts))


def _ids(ids: list[int]) -> str:
    shown = ", ".join(str(i) for i in ids[:10])
    return shown if len(ids) <= 10 else f"{shown} and {len(ids) - 10} more"


class WebhookFailed(LocalError):
    """The webhook did not take a post; it is sent again later."""
