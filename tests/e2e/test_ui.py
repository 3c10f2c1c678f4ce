"""The web UI in a real browser (Debian's Chromium, headless) against a real server.

The browser is the system's /usr/bin/chromium, driven by Playwright; no
browser is ever downloaded. Screenshots go to test-artifacts/ for review.
"""

from __future__ import annotations

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

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402


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

    page.locator("#admin-token").fill("sesame")
    page.locator("#admin button[type=submit]").click()
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
