"""What the console refuses, each against real nodes serving ``casebridge serve --web``.

Every refusal is checked twice: the answer (status, message) and that nothing changed (the alert's status,
the proposal still waiting, no disclosure recorded).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest

from node.net.local import LoopThread
from node.ops import alerts as ops_alerts
from node.ops import disclosure as ops_disclosure
from node.ops import proposals as ops_proposals
from node.ops.users import MAX_FAILURES
from node.web.app import cookie_names
from tests.integration.console_nodes import PASSWORD, ConsoleNodes, csrf_of, logged_in, login, start_console_nodes

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def nodes(template: Path, tmp_path_factory: pytest.TempPathFactory, loop_thread: LoopThread) -> Iterator[ConsoleNodes]:
    started = start_console_nodes(
        template, tmp_path_factory.mktemp("console-refusals") / "nodes", loop_thread, ("NL-NP", "DE-BKA")
    )
    try:
        started.federation.cli("NL-NP", "match", "DE-BKA")
        yield started
    finally:
        started.federation.stop_all()


def _client(nodes: ConsoleNodes, code: str = "NL-NP") -> httpx.Client:
    return httpx.Client(base_url=nodes.urls[code], follow_redirects=False, timeout=30)


def _alert(nodes: ConsoleNodes, case_ref: str = "NL-2026-WEB", code: str = "NL-NP") -> Any:
    return next(a for a in ops_alerts.list_all(nodes.ops(code)) if a.case_ref == case_ref)


def _new_alert(nodes: ConsoleNodes) -> Any:
    return next(a for a in ops_alerts.list_all(nodes.ops("NL-NP")) if a.status == "new")


def test_a_wrong_password_is_refused_and_the_sixth_try_is_throttled(nodes: ConsoleNodes) -> None:
    with _client(nodes) as client:
        for _ in range(MAX_FAILURES):
            wrong = login(client, "cem", "not the password at all")
            assert wrong.status_code == 401
            assert "wrong user name or password" in wrong.text
            assert "casebridge_session" not in wrong.headers.get("set-cookie", "")
        throttled = login(client, "cem", PASSWORD)  # the right password, too late
        assert throttled.status_code == 429
        assert "too many failed logins" in throttled.text
        assert client.get("/").status_code == 303  # still not logged in
    with _client(nodes, "DE-BKA") as other:  # the throttle is the node's: DE-BKA's cem is unaffected
        assert login(other, "cem").status_code == 303


def test_an_unknown_name_gets_the_same_answer_as_a_wrong_password(nodes: ConsoleNodes) -> None:
    with _client(nodes) as client:
        unknown = login(client, "nobody", PASSWORD)
        wrong = login(client, "ana", "not the password at all")
    assert unknown.status_code == wrong.status_code == 401
    assert "wrong user name or password" in unknown.text and "wrong user name or password" in wrong.text


@pytest.mark.parametrize("token", ["missing", "wrong"])
def test_a_state_change_without_the_right_csrf_token_is_refused(nodes: ConsoleNodes, token: str) -> None:
    alert = _new_alert(nodes)
    with logged_in(nodes.urls["NL-NP"], "ana") as client:
        data = {} if token == "missing" else {"csrftoken": "Im5vdCBhIHRva2VuIg.forged"}
        refused = client.post(f"/alerts/{alert.id}/confirm", data=data)
        assert refused.status_code == 403
        assert "Form refused" in refused.text
        page = client.get(f"/alerts/{alert.id}")
        accepted = client.post(f"/alerts/{alert.id}/dismiss", data={"csrftoken": csrf_of(page.text), "reason": ""})
        assert accepted.status_code == 303  # the same session with the page's token gets through (to a message)
    assert ops_alerts.show(nodes.ops("NL-NP"), alert.id).status == "new"


def test_a_logged_out_request_changes_nothing(nodes: ConsoleNodes) -> None:
    alert = _new_alert(nodes)
    with _client(nodes) as client:
        page = client.get(f"/alerts/{alert.id}")
        assert page.status_code == 303 and page.headers["location"].startswith("/login?next=")
        token = csrf_of(client.get("/login").text)
        refused = client.post(f"/alerts/{alert.id}/confirm", data={"csrftoken": token})
        assert refused.status_code == 401
        assert client.get("/events").status_code == 303
    assert ops_alerts.show(nodes.ops("NL-NP"), alert.id).status == "new"


def test_a_session_cookie_from_another_node_is_refused(nodes: ConsoleNodes) -> None:
    de_cookie, _ = cookie_names("DE-BKA")
    nl_cookie, _ = cookie_names("NL-NP")
    with logged_in(nodes.urls["DE-BKA"], "bob") as de:
        value = de.cookies.get(de_cookie)
        assert value, "DE-BKA's console set no session cookie"
        with _client(nodes) as nl:
            nl.cookies.set(nl_cookie, value)
            answer = nl.get("/")
            assert answer.status_code == 303 and answer.headers["location"].startswith("/login")


def test_an_analyst_cannot_approve_and_the_preparer_cannot_approve_their_own(nodes: ConsoleNodes) -> None:
    alert = _alert(nodes)
    with logged_in(nodes.urls["NL-NP"], "bob") as bob:  # an approver prepares...
        page = bob.get(f"/alerts/{alert.id}")
        form = {
            "csrftoken": csrf_of(page.text),
            "purpose": "check the link",
            "legal_basis": "art. 18",
            "handling": "H2",
        }
        assert bob.post(f"/alerts/{alert.id}/request", data=form).status_code == 303
        proposal = ops_proposals.list_all(nodes.ops("NL-NP"), alert_id=alert.id, status="waiting")[0]
        assert proposal.prepared_by == "web:bob"
        # ...and cannot approve it: four eyes.
        own = bob.post(f"/proposals/{proposal.id}/approve", data={"csrftoken": csrf_of(page.text)})
        assert own.status_code == 303
        after = bob.get(own.headers["location"])
        assert "four eyes: the user who prepared it cannot approve or reject it" in after.text
    with logged_in(nodes.urls["NL-NP"], "ana") as ana:  # an analyst may not approve at all
        token = csrf_of(ana.get("/disclosures").text)
        refused = ana.post(f"/proposals/{proposal.id}/approve", data={"csrftoken": token})
        assert refused.status_code == 403
    assert ops_proposals.show(nodes.ops("NL-NP"), proposal.id).status == "waiting"
    assert not [d for d in ops_disclosure.list_all(nodes.ops("NL-NP"), "outgoing") if d.alert_id == alert.id]
    with closing(sqlite3.connect(nodes.federation.home("NL-NP") / "casebridge.db")) as db:
        events = [row[0] for row in db.execute("SELECT event FROM audit WHERE event LIKE 'proposal.%'")]
    assert events.count("proposal.approved") == 0


def test_an_admin_manages_users_but_decides_nothing(nodes: ConsoleNodes) -> None:
    alert = _new_alert(nodes)
    with logged_in(nodes.urls["NL-NP"], "ada") as ada:
        assert ada.get("/").status_code == 403
        token = csrf_of(ada.get("/users").text)
        assert ada.post(f"/alerts/{alert.id}/confirm", data={"csrftoken": token}).status_code == 403
        added = ada.post("/users", data={"csrftoken": token, "name": "eva", "role": "analyst", "password": PASSWORD})
        assert added.status_code == 303
        assert "eva" in ada.get("/users").text
    assert ops_alerts.show(nodes.ops("NL-NP"), alert.id).status == "new"
    with logged_in(nodes.urls["NL-NP"], "ana") as ana:
        assert ana.get("/users").status_code == 403


def test_a_removed_user_is_logged_out_at_once(nodes: ConsoleNodes) -> None:
    from node.ops import users as ops_users

    ops_users.add(nodes.ops("NL-NP"), "leaver", "analyst", PASSWORD)
    with logged_in(nodes.urls["NL-NP"], "leaver") as client:
        assert client.get("/").status_code == 200
        ops_users.remove(nodes.ops("NL-NP"), "leaver")
        assert client.get("/").status_code == 303


def test_pages_carry_a_strict_content_security_policy(nodes: ConsoleNodes) -> None:
    with logged_in(nodes.urls["NL-NP"], "ana") as client:
        page = client.get("/")
        csp = page.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src 'self'" in csp and "'unsafe-inline'" not in csp
        assert page.headers["cache-control"] == "no-store"
        assert "<script>" not in page.text and " style=" not in page.text and " on" + "click=" not in page.text
        session_cookie, _ = cookie_names("NL-NP")
    with _client(nodes) as fresh:
        set_cookie = login(fresh, "ana").headers["set-cookie"].lower()
    assert session_cookie.lower() in set_cookie and "httponly" in set_cookie and "samesite=strict" in set_cookie
    assert "max-age=" in set_cookie


def test_a_release_is_refused_to_an_analyst_and_to_the_approver_who_prepared_it(nodes: ConsoleNodes) -> None:
    nl_alert = next(
        a for a in ops_alerts.list_all(nodes.ops("NL-NP")) if a.peer == "DE-BKA" and a.case_ref != "NL-2026-WEB"
    )
    ops_disclosure.request(nodes.ops("NL-NP"), nl_alert.id, "check the link", "art. 18", "H1")
    incoming = ops_disclosure.list_all(nodes.ops("DE-BKA"), "incoming")[-1]
    with logged_in(nodes.urls["DE-BKA"], "bob") as bob:
        token = csrf_of(bob.get(f"/disclosures/{incoming.id}").text)
        prepared = bob.post(f"/disclosures/{incoming.id}/release", data={"csrftoken": token, "fields": "title"})
        assert prepared.status_code == 303
        proposal = ops_proposals.list_all(nodes.ops("DE-BKA"), disclosure_id=incoming.id, status="waiting")[0]
        assert proposal.kind == "release" and proposal.prepared_by == "web:bob"
        own = bob.post(f"/proposals/{proposal.id}/approve", data={"csrftoken": token})
        assert (
            "four eyes: the user who prepared it cannot approve or reject it" in bob.get(own.headers["location"]).text
        )
    with logged_in(nodes.urls["DE-BKA"], "ana") as ana:
        token = csrf_of(ana.get("/disclosures").text)
        assert ana.post(f"/proposals/{proposal.id}/approve", data={"csrftoken": token}).status_code == 403
        assert (
            ana.post(f"/disclosures/{incoming.id}/deny", data={"csrftoken": token, "reason": "no"}).status_code == 403
        )
    assert ops_proposals.show(nodes.ops("DE-BKA"), proposal.id).status == "waiting"
    assert ops_disclosure.show(nodes.ops("DE-BKA"), incoming.id).status == "pending"
    assert ops_disclosure.list_all(nodes.ops("NL-NP"), "outgoing")[-1].status == "pending"
