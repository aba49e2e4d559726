"""A serving node tells people about new alerts and disclosure requests: in its log and, signed, to a webhook.

The webhook is a real HTTP server on loopback; the node is a real ``casebridge serve`` process.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from node.core.home import NodeHome
from tests.integration.conftest import Federation
from tests.integration.disclosure_helpers import alert_id, request_args
from tests.waiting import wait_until

pytestmark = pytest.mark.timeout(180)

NL, DE = "NL-NP", "DE-BKA"


@dataclass
class Receiver:
    """Answers each post with the next code of ``answers`` (then 204), keeping what it was sent."""

    answers: list[int]
    posts: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    port: int = 0


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    got = Receiver(answers=[503])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.posts.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(got.answers.pop(0) if got.answers else 204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    got.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield got
    finally:
        server.shutdown()
        thread.join()


def _verify(key: bytes, headers: dict[str, str], body: bytes) -> None:
    fields = dict(part.split("=", 1) for part in headers["x-casebridge-signature"].split(","))
    expected = hmac.new(key, f"{fields['t']}.".encode() + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(fields["v1"], expected)


def test_new_alerts_and_requests_are_posted_signed_with_counts_and_ids_only(
    idle_federation: Federation, receiver: Receiver
) -> None:
    fed = idle_federation
    home = NodeHome(fed.home(NL))
    with home.config.open("a", encoding="utf-8") as config:
        config.write(f'\n[notify]\nwebhook = "http://127.0.0.1:{receiver.port}/casebridge"\n')
    fed.serve_subprocess(NL)
    fed.publish_addresses()
    key_file = fed.home(NL) / "notify.secret"
    wait_until(lambda: key_file.exists() and len(key_file.read_text().strip()) == 64, 30, "the notify key")
    key = bytes.fromhex(key_file.read_text().strip())
    assert key_file.stat().st_mode & 0o077 == 0

    outcome = fed.match(DE, NL)  # NL answers; its new alerts come from a session it did not start
    assert outcome.status == "completed" and outcome.intersection > 0
    alerts = fed.alerts(NL)
    # The first post is refused (503): the same body goes again after the backoff.
    wait_until(lambda: len(receiver.posts) >= 2, 60, "the post and its retry")
    (_, first), (_, again) = receiver.posts[:2]
    assert first == again
    for headers, body in receiver.posts[:2]:
        _verify(key, headers, body)
        assert headers["content-type"] == "application/json"
    news = json.loads(first)
    assert set(news) == {"agency", "delivery", "alerts", "disclosure_requests"}
    assert news["agency"] == NL and len(news["delivery"]) == 32
    assert news["alerts"] == {"count": len(alerts), "ids": sorted(a["id"] for a in alerts)}
    assert news["disclosure_requests"] == {"count": 0, "ids": []}

    fed.cli(DE, *request_args(alert_id(fed, DE, "DE-2026-PHONE", NL), "H2"))
    wait_until(lambda: len(receiver.posts) >= 3, 30, "news of the request")
    headers, body = receiver.posts[2]
    _verify(key, headers, body)
    request_news = json.loads(body)
    assert request_news["alerts"]["count"] == 0 and request_news["disclosure_requests"]["count"] == 1
    assert request_news["delivery"] != news["delivery"]

    # Nothing identifying went out or into the log: no case, no handle, no identifier value.
    posted = b"".join(body for _, body in receiver.posts).decode()
    log = fed.serve_logs[NL].read_text()
    assert "new alert(s)" in log and "new disclosure request(s)" in log
    for alert in alerts:
        for text in (alert["case_ref"], alert["match_handle"]):
            assert text not in posted and text not in log
    assert "12345678" not in posted and "12345678" not in log
