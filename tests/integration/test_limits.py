"""No client holds the server by sending too much or too slowly.

The app runs under uvicorn with lessor's protocol (`api/limits.py`), as
`lessor server` runs it, in a thread of the test on a real socket; the
clients are raw sockets, so nothing sends more politely than an attacker.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import socket
import threading
import time
import xmlrpc.client
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
import uvicorn
from tests.conftest import free_port, wait_until
from tests.integration.inprocess import app_of, service_on

from lessor.api import limits
from lessor.api.guards import MAX_BODY

DEADLINE = 0.5
JSON = {"Content-Type": "application/json"}


@dataclass
class Served:
    port: int

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    monkeypatch.setattr(limits, "READ_DEADLINE", DEADLINE)
    service = service_on(f"sqlite:///{tmp_path / 'lessor.sqlite'}")
    port = free_port()
    config = uvicorn.Config(
        app_of(service, tmp_path),
        host="127.0.0.1",
        port=port,
        loop="asyncio",
        lifespan="off",
        log_level="error",
        http=limits.Http,
        timeout_keep_alive=limits.KEEP_ALIVE,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, message="uvicorn to listen")
    yield Served(port)
    server.should_exit = True
    thread.join(10)
    service.store.close()  # type: ignore[attr-defined]


def answer(s: socket.socket) -> tuple[int, bytes]:
    """Status and body of the one answer the server sends before it closes the connection."""
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def head(method: str, path: str, length: int, content_type: bytes = b"application/json") -> bytes:
    return (
        f"{method} {path} HTTP/1.1\r\nHost: lessor\r\nConnection: close\r\n"
        f"Content-Length: {length}\r\n".encode()
        + b"Content-Type: "
        + content_type
        + b"\r\n\r\n"
    )


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/api/v1/tickets", b"application/json"),  # the fast lane reads it
        ("/api/v1/tickets/1/extend", b"application/json"),  # FastAPI reads it
        ("/RPC2", b"text/xml"),  # XML-RPC
    ],
)
def test_a_body_trickled_past_the_deadline_is_answered_408_and_closed(
    served: Served, path: str, content_type: bytes
) -> None:
    started = time.monotonic()
    with served.connect() as s:
        s.sendall(head("POST", path, 100, content_type) + b'{"tags": ')
        status, body = answer(s)
    assert status == 408
    assert json.loads(body) == {"detail": f"request not received within {DEADLINE:g} seconds"}
    assert DEADLINE <= time.monotonic() - started < DEADLINE + 5


def test_a_client_that_never_finishes_its_headers_is_closed(served: Served) -> None:
    with served.connect() as s:
        s.sendall(b"POST /api/v1/tickets HTTP/1.1\r\nHost: lessor\r\n")
        assert answer(s)[0] == 408
    with served.connect() as s:  # connected, nothing sent
        assert answer(s)[0] == 408


def test_waiting_for_an_answer_is_not_sending_slowly(served: Served) -> None:
    """A long-poll lasts past the deadline: its request was read at once."""
    client = http.client.HTTPConnection("127.0.0.1", served.port, timeout=10)
    tickets = []
    for _ in range(2):  # pool q has one spare: the second ticket waits
        client.request("POST", "/api/v1/tickets", body=b'{"tags": ["y"]}', headers=JSON)
        tickets.append(json.loads(client.getresponse().read()))
    assert tickets[1]["state"] == "OPEN"
    started = time.monotonic()
    client.request("GET", f"/api/v1/tickets/{tickets[1]['id']}?wait={DEADLINE * 3}")
    reply = client.getresponse()
    assert reply.status == 200 and json.loads(reply.read())["state"] == "OPEN"
    assert time.monotonic() - started >= DEADLINE * 3
    client.close()


def test_headers_over_the_limit_are_refused_431(served: Served) -> None:
    with served.connect() as s:
        s.sendall(b"GET /api/v1/pools HTTP/1.1\r\nHost: lessor\r\nX-Big: ")
        try:
            for _ in range(16):  # 16 MiB; the server stops reading at 64 KiB
                s.sendall(b"a" * 1024 * 1024)
        except OSError:
            pass  # closed on us, as it should
        status, body = answer(s)
    assert status == 431
    assert json.loads(body) == {"detail": f"request headers over {limits.MAX_HEADER_BYTES} bytes"}


def _sockets() -> int:
    """Sockets this process has open: the server's, and the test's own."""
    found = 0
    for fd in Path("/proc/self/fd").iterdir():
        with contextlib.suppress(OSError):  # closed meanwhile
            found += os.readlink(fd).startswith("socket:")
    return found


def test_bodies_past_the_lanes_limit_are_all_answered_and_leave_no_connection(
    served: Served,
) -> None:
    sockets = _sockets()
    for size in range(64 * 1024, 128 * 1024, 4096):
        body = b'{"tags": ["x"]' + b" " * (size - 15) + b"}"
        with served.connect() as s:
            s.sendall(head("POST", "/api/v1/tickets", len(body)) + body)
            assert answer(s)[0] == 201  # hung for ever, once
    wait_until(lambda: _sockets() <= sockets, message="the server to close its connections")


def test_a_200_mb_xmlrpc_body_is_a_fault_and_never_held_in_memory(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "READ_DEADLINE", 30.0)  # time to send it all, read or not
    rss = psutil.Process().memory_info().rss
    chunk = b"a" * (1024 * 1024)
    client = http.client.HTTPConnection("127.0.0.1", served.port, timeout=60)
    body = (chunk for _ in range(200))
    client.request("POST", "/RPC2", body=body, headers={"Content-Type": "text/xml"})
    reply = client.getresponse()
    assert reply.status == 200
    with pytest.raises(xmlrpc.client.Fault, match=f"too large: at most {MAX_BODY} bytes"):
        xmlrpc.client.loads(reply.read())
    client.close()
    assert psutil.Process().memory_info().rss - rss < 50 * 1024 * 1024


def test_resallocs_client_reports_a_body_over_the_limit_as_a_fault(served: Served) -> None:
    proxy = xmlrpc.client.ServerProxy(f"http://127.0.0.1:{served.port}/RPC2")
    with pytest.raises(xmlrpc.client.Fault) as fault:
        proxy.takeTicket(["x" * MAX_BODY])
    assert fault.value.faultString == f"request body too large: at most {MAX_BODY} bytes"
    assert proxy.takeTicket(["x"]) == 1  # and the server serves on
