"""/docs and /redoc work on a machine without the internet: every asset comes from the server."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest
from tests.conftest import IN_CI, ServerProcess

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = Path("/usr/bin/chromium")
TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".png": "image/png",
    ".json": "application/json",
}
Offline = tuple["Page", str, list[str]]
"""A browser page that reaches only the server, the server's URL, what it tried elsewhere."""


def referenced(html: str) -> list[str]:
    """Every URL the page loads: src=, href= and the OpenAPI document it fetches."""
    urls = re.findall(r"""(?:src|href|spec-url)=["']([^"']+)["']""", html)
    return urls + re.findall(r"""url: ["']([^"']+)["']""", html)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_api_docs_load_only_same_origin_assets_and_they_are_served(
    start_server: Callable[..., ServerProcess], page: str
) -> None:
    server = start_server()
    with server.client() as c:
        html = c.get(page)
        assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
        assert "http://" not in html.text and "https://" not in html.text
        # ... and the browser is told to load nothing from elsewhere (ReDoc's bundle would
        # fetch its vendor's logo from a CDN otherwise).
        assert "default-src 'self'" in html.headers["content-security-policy"]
        urls = referenced(html.text)
        assert any(u.endswith(".js") for u in urls) and "/openapi.json" in urls
        for url in urls:
            parts = urlsplit(url)
            assert not parts.scheme and not parts.netloc and url.startswith("/"), url
            got = c.get(url)
            assert got.status_code == 200, url
            assert got.headers["content-type"].startswith(TYPES[Path(parts.path).suffix]), url
            assert len(got.content) > 1000, url


@pytest.fixture
def offline_page(start_server: Callable[..., ServerProcess]) -> Iterator[Offline]:
    if not CHROMIUM.exists():
        why = "Debian's chromium is not installed (scripts/setup --system installs it)"
        if IN_CI:
            pytest.fail(why)
        pytest.skip(why)
    from playwright.sync_api import Route, sync_playwright

    server = start_server()
    elsewhere: list[str] = []

    def only_the_server(route: Route) -> None:
        if route.request.url.startswith(server.url):
            route.continue_()
        else:  # the machine is offline
            elsewhere.append(route.request.url)
            route.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        context = browser.new_context()
        context.route("**/*", only_the_server)
        page = context.new_page()
        page.set_default_timeout(10_000)
        yield page, server.url, elsewhere
        browser.close()


def test_swagger_ui_renders_the_operations_offline(offline_page: Offline) -> None:
    from playwright.sync_api import expect

    page, url, elsewhere = offline_page
    page.goto(f"{url}/docs")
    expect(page.locator(".opblock").first).to_be_visible()
    expect(page.locator(".opblock-summary-path", has_text="/api/v1/tickets").first).to_be_visible()
    assert elsewhere == []


def test_redoc_renders_the_operations_offline(offline_page: Offline) -> None:
    from playwright.sync_api import expect

    page, url, elsewhere = offline_page
    page.goto(f"{url}/redoc")
    expect(page.get_by_text("/api/v1/tickets").first).to_be_attached()
    assert elsewhere == []
