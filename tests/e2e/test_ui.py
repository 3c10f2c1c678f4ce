"""The web UI in a real browser (Debian's Chromium, headless) against a real server.

The browser is the system's /usr/bin/chromium, driven by Playwright; no
browser is ever downloaded. Screenshots go to test-artifacts/ for review.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.conftest import IN_CI, ROOT, ServerProcess, wait_until

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
TIMEOUT_MS = 10_000

POOLS = """
gated:
  description: Starts a machine once the test opens the gate
  max: 2
  max_prealloc: 0
  start_for_waiting: true
  tags: [gated]
  cmd_new: "while [ ! -e {gate} ]; do sleep 0.02; done; echo 10.0.0.7"
  cmd_delete: "true"
spare:
  max: 1
  max_prealloc: 1
  tags: [spare]
  cmd_new: "echo 10.0.0.9"
  cmd_delete: "true"
"""

if not CHROMIUM.exists():
    _why = "Debian's chromium is not installed (scripts/setup --system installs it)"
    if IN_CI:
        raise RuntimeError(_why)  # CI must run the browser tests, never skip them
    pytest.skip(_why, allow_module_level=True)

from playwright.sync_api import Browser, Page, Request, expect, sync_playwright  # noqa: E402


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    p = context.new_page()
    p.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    p.on("pageerror", lambda e: errors.append(str(e)))
    yield p
    context.close()
    assert errors == [], f"errors in the page's script: {errors}"


@pytest.fixture
def gated(tmp_path: Path, start_server: Callable[..., ServerProcess]) -> tuple[ServerProcess, Path]:
    gate = tmp_path / "gate"
    pools = tmp_path / "pools.yaml"
    pools.write_text(POOLS.format(gate=gate))
    return start_server(pools, LESSOR_SERVER_ADMIN_TOKEN="sesame"), gate


def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def live(page: Page) -> None:
    """Wait until the page's event stream is connected."""
    expect(page.locator("#live-status")).to_have_class(re.compile(r"\bon\b"))


def test_a_ticket_from_the_cli_appears_and_turns_assigned_without_a_reload(
    gated: tuple[ServerProcess, Path], page: Page
) -> None:
    server, gate = gated
    page.goto(server.url + "/")
    card = page.locator('[data-pool="gated"]')
    expect(card).to_be_visible()
    expect(card).to_contain_text("Starts a machine once the test opens the gate")
    expect(card.locator(".n-live")).to_have_text(re.compile(r"0\s*/ 2 max"))
    expect(page.locator('[data-pool="spare"] .n-up')).to_have_text(re.compile(r"1\s*/ 1 prealloc"))
    expect(page.locator("svg.chart")).to_be_visible()

    page.get_by_role("link", name="Tickets").click()
    live(page)
    page.evaluate("window.stillTheSamePage = true")

    tid = server.lessor("ticket", "--tag", "gated", check=True).stdout.strip()
    waiting = page.locator(f'tr[data-ticket="{tid}"]')
    expect(waiting).to_have_attribute("data-state", "OPEN")
    expect(waiting.locator(".age")).to_have_text(re.compile(r"^\d+s$"))
    screenshot(page, "ui-ticket-waiting")

    gate.touch()
    expect(page.locator(f'tr[data-ticket="{tid}"][data-state="ASSIGNED"]')).to_be_visible()
    expect(page.locator(f'tr[data-ticket="{tid}"][data-state="OPEN"]')).to_have_count(0)
    assert page.evaluate("window.stillTheSamePage") is True  # updated in place, not reloaded

    page.get_by_role("link", name="Overview").click()
    live(page)
    expect(page.locator('[data-pool="gated"] [data-state="TAKEN"]')).to_have_text("1")
    screenshot(page, "ui-overview")


def test_admin_actions_need_the_token_and_show_their_effect_live(
    gated: tuple[ServerProcess, Path], page: Page
) -> None:
    server, _ = gated
    with server.client() as c:
        spare = wait_until(
            lambda: next(
                (r for r in c.get("/api/v1/resources").json() if r["state"] == "UP"), None
            ),
            message="the spare",
        )
    assert isinstance(spare, dict)
    page.on("dialog", lambda d: d.accept("kernel panic on boot"))
    page.goto(f"{server.url}/ui/resources/{spare['id']}")
    live(page)
    expect(page.locator("h2 .state")).to_have_text("UP")
    expect(page.locator("dl.fields")).to_contain_text("10.0.0.9")

    page.get_by_role("button", name="Delete").click()
    expect(page.locator("#flash")).to_contain_text("admin token")
    expect(page.locator("h2 .state")).to_have_text("UP")  # refused

    # A token is checked with the server before the page says "admin ✓", and not kept if wrong.
    admin = page.locator("#admin")
    page.locator("#admin-token").fill("open sesame")
    page.locator("#admin button[type=submit]").click()
    expect(page.locator("#flash")).to_have_text(re.compile("^token not accepted"))
    expect(admin).not_to_have_class(re.compile("has-token"))
    assert page.evaluate("sessionStorage.length") == 0

    page.locator("#admin-token").fill("sesame")
    page.locator("#admin button[type=submit]").click()
    expect(admin).to_have_class(re.compile("has-token"))
    expect(page.locator("#flash")).to_have_text("admin token accepted")
    # Kept for this tab only: not in localStorage, not in a cookie.
    assert page.evaluate("Object.values(sessionStorage)") == ["sesame"]
    assert page.evaluate("localStorage.length") == 0 and page.context.cookies() == []

    sent: list[Request] = []
    page.on("request", lambda r: sent.append(r) if r.method not in ("GET", "HEAD") else None)
    page.get_by_role("button", name="Delete").click()
    expect(page.locator("#flash")).to_contain_text("deletion of resource")
    expect(page.locator("h2 .state")).to_have_text("ENDED")
    expect(page.locator("table.events")).to_contain_text("deleted by an admin")

    # The token stays for the session: draining a pool from its card works at once.
    page.get_by_role("link", name="Overview").click()
    live(page)
    card = page.locator('[data-pool="spare"]')
    card.get_by_role("button", name="Drain").click()
    expect(card.locator(".badge-drained")).to_be_visible()
    expect(card.get_by_role("button", name="Undrain")).to_be_visible()
    card.get_by_role("button", name="Undrain").click()
    expect(card.locator(".badge-drained")).to_have_count(0)

    # Every state-changing call is JSON from this origin, with the token.
    assert [(r.method, r.url.split("/api/v1/", 1)[1]) for r in sent] == [
        ("DELETE", f"resources/{spare['id']}"),
        ("POST", "pools/spare/drain"),
        ("POST", "pools/spare/undrain"),
    ]
    for r in sent:
        headers = r.all_headers()
        assert headers["content-type"] == "application/json"
        assert headers["authorization"] == "Bearer sesame"
        assert headers["origin"] == server.url
        assert isinstance(json.loads(r.post_data or ""), dict)
    assert json.loads(sent[1].post_data or "") == {"reason": "kernel panic on boot"}

    # The server's token changed meanwhile (a restart): the next action says so and drops it.
    page.evaluate("sessionStorage.setItem('lessor-admin-token', 'yesterday')")
    card.get_by_role("button", name="Drain").click()
    expect(page.locator("#flash")).to_have_text(re.compile("^token not accepted"))
    expect(page.locator("#admin")).not_to_have_class(re.compile("has-token"))


def test_a_server_without_an_admin_token_offers_no_admin_action(
    tmp_path: Path, start_server: Callable[..., ServerProcess], page: Page
) -> None:
    pools = tmp_path / "pools.yaml"
    pools.write_text(POOLS.format(gate=tmp_path / "gate"))
    server = start_server(pools)
    with server.client() as c:
        rid = wait_until(lambda: c.get("/api/v1/resources").json(), message="a resource")[0]["id"]  # type: ignore[index]
    page.goto(server.url + "/ui/events")  # where a token of a former server is left over
    page.evaluate("sessionStorage.setItem('lessor-admin-token', 'sesame')")
    for path in ("/", f"/ui/resources/{rid}"):
        page.goto(server.url + path)
        live(page)
        expect(page.locator("#admin-off")).to_have_text(
            "admin actions are disabled: no admin token is configured on the server"
        )
        expect(page.locator("#admin-token")).to_have_count(0)
        expect(page.locator("[data-action]")).to_have_count(0)
        expect(page.get_by_role("button", name="Drain")).to_have_count(0)
    assert page.evaluate("sessionStorage.length") == 0  # nothing to keep a token for


def test_the_events_page_says_newest_first_and_live_updates_keep_that_order(
    gated: tuple[ServerProcess, Path], page: Page
) -> None:
    server, _ = gated
    page.goto(server.url + "/ui/events")
    live(page)
    expect(page.locator("table.events thead")).to_contain_text("newest first")
    expect(page.locator("footer")).to_contain_text("Times are UTC")
    rows = page.locator("table.events tbody tr[data-event]")
    before = int(rows.first.get_attribute("data-event") or 0)

    tid = server.lessor("ticket", "--tag", "gated", check=True).stdout.strip()
    # Opened, then a resource created for it, whose cmd_new waits for the gate: then all is quiet.
    opened = rows.filter(has=page.locator(f"a[href='/ui/tickets/{tid}']"))
    expect(opened.and_(page.locator("[data-kind='ticket.opened']"))).to_have_count(1)
    expect(rows.first).to_have_attribute("data-kind", "hook.started")
    ids = [int(i) for i in rows.evaluate_all("rs => rs.map(r => r.dataset.event)")]
    assert ids == sorted(ids, reverse=True) and ids[0] > before
    expect(rows.first.locator("time")).to_have_text(
        re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$")
    )

    # `lessor events` prints the same events the other way round: newest last.
    printed = server.lessor("events", "--json", "-n", str(len(ids)), check=True).stdout
    assert [json.loads(line)["id"] for line in printed.splitlines()] == ids[::-1]


XSS_POOLS = """
xss:
  description: "<script>window.pwned = 'description'</script>a pool with a script in it"
  max: 1
  max_prealloc: 0
  start_for_waiting: true
  tags: [xss, "<img src=x onerror=window.pwned=4>"]
  cmd_new: >-
    echo '<script>window.pwned = 1</script>in the log' >&2;
    echo '<img src=x onerror=window.pwned=2>'
  cmd_delete: "true"
"""
SANDBOX = "<script>window.pwned = 'sandbox'</script>"
TAG = "<img src=x onerror=window.pwned=4>"


def test_what_users_and_hooks_write_is_shown_as_text_never_run(
    tmp_path: Path, start_server: Callable[..., ServerProcess], page: Page
) -> None:
    pools = tmp_path / "pools.yaml"
    pools.write_text(XSS_POOLS)
    server = start_server(pools, LESSOR_SERVER_ADMIN_TOKEN="sesame")
    tid = server.lessor(
        "ticket", "--tag", "xss", "--tag", TAG, "--sandbox", SANDBOX, check=True
    ).stdout.strip()
    server.lessor("ticket-wait", tid, "--timeout", "30", check=True)
    with server.client() as c:
        rid = c.get(f"/api/v1/tickets/{tid}").json()["resource_id"]

    def shows(path: str, *texts: str) -> None:
        page.goto(server.url + path)
        if page.locator("body[data-stream^='/']").count():  # an error page does not follow events
            live(page)
        for text in texts:
            expect(page.locator("main")).to_contain_text(text)
        assert page.evaluate("window.pwned") is None, path

    shows("/", "<script>window.pwned = 'description'</script>a pool", TAG)
    shows("/ui/tickets", TAG)
    shows(f"/ui/tickets/{tid}", SANDBOX, TAG)
    shows("/ui/events", SANDBOX, TAG)
    shows("/ui/resources", SANDBOX, TAG)
    shows(f"/ui/resources/{rid}", SANDBOX, TAG, "<img src=x onerror=window.pwned=2>")
    page.locator("details.log summary").first.click()
    expect(page.locator("details.log pre").first).to_contain_text(
        "<script>window.pwned = 1</script>in the log"
    )
    assert page.evaluate("window.pwned") is None
    server.lessor("ticket-close", tid, check=True)  # a live update swaps the same texts in
    expect(page.locator("h2 .state")).not_to_have_text("TAKEN")
    expect(page.locator("main")).to_contain_text(TAG)
    assert page.evaluate("window.pwned") is None
    shows("/ui/tickets?state=%3Cscript%3Ewindow.pwned=3%3C/script%3E", "<script>window.pwned=3")
    screenshot(page, "ui-escaped")
