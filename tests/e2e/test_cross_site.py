"""A page of another site, opened in a real browser, changes nothing on the server.

The page (served from another origin by the test) tries what any web page
can do to a server on the user's network without the browser asking it
first: fetch() with form-like bodies (`no-cors`), form posts in a hidden
frame (URL-encoded, and `text/plain` shaped as JSON or XML-RPC), and a JSON
fetch() (which the browser preflights, and lessor answers no preflight).
Debian's Chromium, headless, driven by Playwright as in test_ui.py.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.conftest import IN_CI, ServerProcess, free_port, wait_until

CHROMIUM = Path("/usr/bin/chromium")

POOLS = """
spare:
  max: 2
  max_prealloc: 2
  tags: [spare]
  cmd_new: "echo 10.0.0.9"
  cmd_delete: "true"
"""

PAGE = """<!doctype html>
<title>attacking</title>
<iframe name="sink"></iframe>
<script>
const server = new URLSearchParams(location.search).get("server");
const ticket = new URLSearchParams(location.search).get("ticket");
const plain = {"Content-Type": "text/plain"};
const tags = "<array><data><value>spare</value></data></array>";
const xml = (method, arg) =>
  `<?xml version="1.0"?><methodCall><methodName>${method}</methodName>` +
  `<params><param><value>${arg}</value></param></params></methodCall>`;

function post(action, enctype, fields) {  // a form in a hidden frame: the classic CSRF
  return new Promise(done => {
    const form = document.createElement("form");
    Object.assign(form, {method: "POST", action: server + action, enctype, target: "sink"});
    for (const [name, value] of fields) {
      const input = document.createElement("input");
      Object.assign(input, {type: "hidden", name, value});
      form.append(input);
    }
    document.body.append(form);
    document.querySelector("iframe").onload = done;
    form.submit();
  });
}

const attempts = async () => {
  const tries = [
    [server + "/api/v1/tickets", {body: '{"tags": ["spare"]}', headers: plain}],
    [server + `/api/v1/tickets/${ticket}/close`, {}],
    [server + `/api/v1/tickets/${ticket}/extend`, {body: '{"ttl": 0.001}', headers: plain}],
    [server + "/RPC2", {body: xml("takeTicket", tags), headers: plain}],
    [server + "/", {body: xml("closeTicket", `<int>${ticket}</int>`), headers: plain}],
  ];
  for (const [url, init] of tries) {
    await fetch(url, {method: "POST", mode: "no-cors", ...init}).catch(() => null);
  }
  // JSON the browser must ask about first: refused before it is sent
  await fetch(server + "/api/v1/tickets", {
    method: "POST", headers: {"Content-Type": "application/json"}, body: '{"tags": ["spare"]}',
  }).catch(() => null);
  await post(`/api/v1/tickets/${ticket}/close`, "application/x-www-form-urlencoded", [["a", "b"]]);
  await post("/api/v1/tickets", "text/plain", [['{"tags": ["spare"], "x": "', '"}']]);
  await post("/RPC2", "text/plain", [[xml("closeTicket", `<int>${ticket}`), "</int>"]]);
  document.title = "done";
};
attempts();
</script>
"""

if not CHROMIUM.exists():
    _why = "Debian's chromium is not installed (scripts/setup --system installs it)"
    if IN_CI:
        raise RuntimeError(_why)
    pytest.skip(_why, allow_module_level=True)

from playwright.sync_api import sync_playwright  # noqa: E402


class _Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = PAGE.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def other_site() -> Iterator[str]:
    """Another origin than the server's: another host name and port."""
    site = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _Page)
    threading.Thread(target=site.serve_forever, daemon=True).start()
    yield f"http://localhost:{site.server_address[1]}"
    site.shutdown()
    site.server_close()


def test_a_page_of_another_site_opens_closes_and_extends_nothing(
    tmp_path: Path, start_server: Callable[..., ServerProcess], other_site: str
) -> None:
    pools = tmp_path / "pools.yaml"
    pools.write_text(POOLS)
    server = start_server(pools, LESSOR_SERVER_ADMIN_TOKEN="sesame")
    tid = server.lessor("ticket", "--tag", "spare", "--ttl", "600", check=True).stdout.strip()
    with server.client() as c:

        def tickets() -> list[tuple[int, str, str | None]]:
            found = c.get("/api/v1/tickets").json()
            return [(t["id"], t["state"], t["expires_at"]) for t in found]

        wait_until(lambda: tickets()[0][1] == "ASSIGNED", message="the ticket assigned")
        before = tickets()
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True)
            page = browser.new_page()
            page.goto(f"{other_site}/?server={server.url}&ticket={tid}")
            page.wait_for_function("document.title === 'done'", timeout=20_000)
            browser.close()
        assert tickets() == before  # nothing opened, closed, extended
        assert len(before) == 1
