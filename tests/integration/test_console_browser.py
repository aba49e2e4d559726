"""The analyst console in a real headless Chromium (Debian's ``chromium``, driven by Playwright), against
nodes serving ``casebridge serve --web`` after a real match.

Every wait is for a state on the page (``expect(...)`` with a deadline), never a fixed time. The screenshots
in ``docs/screenshots`` come from these tests: ``make screenshots`` runs them with
``CASEBRIDGE_SCREENSHOTS`` naming that folder; otherwise they go to the test's temporary folder.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from node.net.local import LoopThread
from tests.integration.conftest import CASES
from tests.integration.console_nodes import DE_CASE, LINKED_EMAIL, NL_CASE, PASSWORD, ConsoleNodes, start_console_nodes

pytestmark = pytest.mark.timeout(300)

CHROMIUM = Path(os.environ.get("CASEBRIDGE_CHROMIUM", "/usr/lib/chromium/chromium"))
DEADLINE_MS = 30_000


@pytest.fixture(scope="module")
def nodes(template: Path, tmp_path_factory: pytest.TempPathFactory, loop_thread: LoopThread) -> Iterator[ConsoleNodes]:
    root = tmp_path_factory.mktemp("console-browser") / "nodes"
    started = start_console_nodes(template, root, loop_thread, ("NL-NP", "DE-BKA", "RO-DIICOT"))
    try:
        started.federation.cli("NL-NP", "match", "DE-BKA")
        yield started
    finally:
        started.federation.stop_all()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: the console tests need Debian's chromium (make test installs it as root)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get("CASEBRIDGE_SCREENSHOTS")
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _login(browser: Browser, url: str, name: str) -> Page:
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.goto(url + "/login")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(url + "/")
    return page


def _alert_id(nodes: ConsoleNodes, code: str, case_ref: str) -> int:
    listed = nodes.federation.cli(code, "alerts", "list", "--json").json()
    return int(next(a["id"] for a in listed if a["case_ref"] == case_ref))


def test_an_analyst_sees_the_alerts_of_a_real_match_and_confirms_one(
    nodes: ConsoleNodes, browser: Browser, shots: Path
) -> None:
    listed = nodes.federation.cli("NL-NP", "alerts", "list", "--json").json()
    assert listed, "the match made no alerts"
    page = _login(browser, nodes.urls["NL-NP"], "ana")
    expect(page.locator("#alert-rows tr[data-alert]")).to_have_count(len(listed))
    expect(page.locator("#alert-rows tr.unread")).to_have_count(len(listed))
    page.screenshot(path=shots / "console-inbox.png", full_page=True)
    chosen = next(a for a in listed if a["status"] == "new" and a["case_ref"] != NL_CASE["case_ref"])
    page.get_by_role("link", name=str(chosen["id"]), exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Alert {chosen['id']}")
    page.get_by_role("button", name="Confirm", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text(f"Alert {chosen['id']} confirmed")
    page.screenshot(path=shots / "console-alert.png", full_page=True)
    shown = nodes.federation.cli("NL-NP", "alerts", "show", str(chosen["id"]), "--json").json()
    assert shown["status"] == "confirmed"
    confirmed = [d for e, d in nodes.federation.audit_details("NL-NP") if e == "alert.confirmed"]
    assert confirmed[-1]["actor"] == "web:ana"
    page.goto(nodes.urls["NL-NP"] + "/")
    expect(page.locator(f"#alert-rows tr[data-alert='{chosen['id']}']")).to_have_class("read")


def _their_secrets() -> list[str]:
    """DE-BKA's case refs and raw identifier values: none may show on NL-NP's pages before a release."""
    found = [DE_CASE["case_ref"], "Maria Muster", "Opfer gemeldet"]
    for line in (CASES / "DE-BKA.jsonl").read_text(encoding="utf-8").splitlines():
        case = json.loads(line)
        found.append(case["case_ref"])
        found += [i["value"] for i in case.get("identifiers", [])]
        found += [p["name"] for p in case.get("persons", [])]
    shared = {LINKED_EMAIL, "+31 6 12345678"}  # also ours: NL-NP holds these identifiers itself
    return [s for s in found if s not in shared]


def _nl_pages(page: Page, url: str, alert_id: int) -> str:
    html = []
    for path in ("/", f"/alerts/{alert_id}", "/disclosures", "/cases", "/audit"):
        page.goto(url + path)
        html.append(page.content())
    page.goto(url + "/disclosures")
    for href in [a.get_attribute("href") for a in page.locator("main a[href^='/disclosures/']").all()]:
        page.goto(url + str(href))
        html.append(page.content())
    return "\n".join(html)


def test_details_asked_by_one_user_and_released_by_two_arrive_with_the_safeguarding_marker(
    nodes: ConsoleNodes, browser: Browser, shots: Path
) -> None:
    nl_url, de_url = nodes.urls["NL-NP"], nodes.urls["DE-BKA"]
    alert_id = _alert_id(nodes, "NL-NP", NL_CASE["case_ref"])
    ana = _login(browser, nl_url, "ana")
    ana.goto(f"{nl_url}/alerts/{alert_id}")
    ana.get_by_label("Purpose").fill("identify the operator of the advertisements")
    ana.get_by_label("Legal basis").fill("EU 2016/794 art. 18")
    ana.get_by_role("button", name="Request details").click()  # no handling code chosen yet: the form refuses
    expect(ana.get_by_label("Handling code")).to_have_js_property("validity.valueMissing", True)
    ana.get_by_label("Handling code").select_option("H2")
    ana.get_by_role("button", name="Request details").click()
    expect(ana.get_by_role("status")).to_contain_text("an approver other than you sends it")
    assert nodes.federation.cli("DE-BKA", "disclose", "list", "--json").json() == []

    bob = _login(browser, nl_url, "bob")
    bob.goto(f"{nl_url}/alerts/{alert_id}")
    bob.get_by_role("button", name="Approve and send").click()
    expect(bob.get_by_role("status")).to_contain_text("Request sent to DE-BKA")

    before = _nl_pages(ana, nl_url, alert_id)
    leaked = [s for s in _their_secrets() if s in before]
    assert not leaked, f"NL-NP's console shows DE-BKA's data before any release: {leaked}"

    de_ana = _login(browser, de_url, "ana")
    de_ana.goto(de_url + "/disclosures")
    de_ana.locator("main a[href^='/disclosures/']").first.click()
    expect(de_ana.get_by_role("heading", level=1)).to_contain_text(f"from NL-NP about our case {DE_CASE['case_ref']}")
    for field in ("title", "summary", "persons"):
        de_ana.get_by_label(field, exact=True).check()
    de_ana.get_by_role("button", name="Prepare release").click()
    expect(de_ana.get_by_role("status")).to_contain_text("an approver other than you releases it")
    expect(de_ana.get_by_role("button", name="Approve and send")).to_have_count(0)

    de_bob = _login(browser, de_url, "bob")
    de_bob.goto(de_ana.url)
    de_bob.screenshot(path=shots / "console-release.png", full_page=True)
    de_bob.get_by_role("button", name="Approve and send").click()
    expect(de_bob.get_by_role("status")).to_contain_text("Released to NL-NP")

    ana.goto(f"{nl_url}/alerts/{alert_id}")
    released = ana.get_by_role("region", name="Released by DE-BKA")
    expect(released).to_contain_text(DE_CASE["case_ref"])
    expect(released).to_contain_text("Maria Muster")
    expect(ana.locator(".banner .safeguarding").first).to_contain_text("SAFEGUARDING")
    expect(ana.locator(".banner .safeguarding").first).to_be_visible()
    ana.screenshot(path=shots / "console-released.png", full_page=True)
    assert DE_CASE["case_ref"] in _nl_pages(ana, nl_url, alert_id)  # the leak check above can see it

    shown = nodes.federation.cli("NL-NP", "disclose", "list", "--json").json()
    assert shown[-1]["status"] == "approved" and shown[-1]["safeguarding"] is True
    for code in ("NL-NP", "DE-BKA"):
        log = nodes.log(code)
        for secret in (NL_CASE["case_ref"], DE_CASE["case_ref"], LINKED_EMAIL, "Maria Muster"):
            assert secret not in log, f"{code}'s serve log names {secret!r}"


def test_a_new_alert_appears_in_an_open_inbox_without_a_reload(nodes: ConsoleNodes, browser: Browser) -> None:
    page = _login(browser, nodes.urls["NL-NP"], "ana")
    rows = page.locator("#alert-rows tr[data-alert]")
    before = len(nodes.federation.cli("NL-NP", "alerts", "list", "--json").json())
    expect(rows).to_have_count(before)
    page.evaluate("window.casebridgeTestMark = 'still the same page'")
    nodes.federation.cli("NL-NP", "match", "RO-DIICOT")
    after = len(nodes.federation.cli("NL-NP", "alerts", "list", "--json").json())
    assert after > before, "matching RO-DIICOT made no new alert"
    expect(rows).to_have_count(after, timeout=DEADLINE_MS)
    expect(page.locator("#live")).to_contain_text("New alerts arrived", timeout=DEADLINE_MS)
    assert page.evaluate("window.casebridgeTestMark") == "still the same page"
