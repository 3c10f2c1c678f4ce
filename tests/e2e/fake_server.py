"""A small fake of the lessor API's ticket endpoints, implementing the ticket-key contract.

The real server gets ticket keys later; the client is written against the
contract now and tested here against this fake, which keeps to it:
- `POST /api/v1/tickets` answers a random `key` once (absent from every
  other answer); an `Idempotency-Key` already seen answers the same ticket,
  with its key;
- closing or extending a ticket, and reading the data of a secret pool's
  ticket (tag `secret`), need the header `Lessor-Ticket-Key: KEY` or the
  admin token, else 403.
Faults can be injected: answers lost after the ticket was opened (502, 503,
504), a long-poll answered 503 a number of times. It runs in a thread of
the test, on a real port, so the real CLI runs against it as a subprocess.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from tests.conftest import free_port, wait_until

ADMIN = "fake-admin-token"
KEY_HEADER = "lessor-ticket-key"


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class FakeTicket:
    id: int
    tags: list[str]
    key: str
    state: str = "OPEN"
    data: bytes | None = None
    ttl: float | None = None
    created_at: str = field(default_factory=_now)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def secret(self) -> bool:
        return "secret" in self.tags

    def out(self, with_data: bool, with_key: bool = False) -> dict[str, Any]:
        data = self.data if with_data and self.state != "CLOSED" else None
        answer: dict[str, Any] = {
            "id": self.id,
            "state": self.state,
            "tags": self.tags,
            "sandbox": None,
            "priority": 0,
            "resource_id": self.id if self.data is not None else None,
            "data": data.decode() if data is not None else None,
            "data_b64": base64.b64encode(data).decode() if data is not None else None,
            "message": "",
            "created_at": self.created_at,
            "assigned_at": self.created_at if self.data is not None else None,
            "closed_at": _now() if self.state == "CLOSED" else None,
            "ttl": self.ttl,
            "expires_at": None,
            "waiting_reason": "fake: waiting" if self.state == "OPEN" else None,
        }
        if with_key:
            answer["key"] = self.key
        return answer


class FakeLessor:
    """The fake's state; the tests read what it saw and steer what it does."""

    def __init__(self) -> None:
        self.tickets: dict[int, FakeTicket] = {}
        self.by_idempotency: dict[str, int] = {}
        self.seen: list[tuple[str, str, str | None, str | None]] = []
        """(method, path, Lessor-Ticket-Key, Idempotency-Key) of every request."""
        self.lose_open_answers: list[int] = []
        """Statuses answered instead of the ticket, after opening it (a lost answer)."""
        self.fail_waits: list[int] = []
        """Statuses answered instead of long-polls, one per request."""
        self.assign_at_once = True
        self.loop: asyncio.AbstractEventLoop | None = None
        self.app = self._app()

    def assign(self, tid: int, data: bytes) -> None:
        """From the test's thread: the ticket gets a resource now."""
        assert self.loop is not None

        def done() -> None:
            t = self.tickets[tid]
            t.state, t.data = "ASSIGNED", data
            t.changed.set()

        self.loop.call_soon_threadsafe(done)

    def _holder(self, request: Request, t: FakeTicket) -> bool:
        key = request.headers.get(KEY_HEADER)
        admin = request.headers.get("authorization") == f"Bearer {ADMIN}"
        return admin or (key is not None and secrets.compare_digest(key, t.key))

    def _app(self) -> FastAPI:
        app = FastAPI()
        refused = JSONResponse(
            {"detail": "this needs the ticket's key (Lessor-Ticket-Key) or the admin token"},
            status_code=403,
        )

        @app.middleware("http")
        async def record(request: Request, call_next: Any) -> Any:
            self.loop = asyncio.get_running_loop()
            self.seen.append(
                (
                    request.method,
                    request.url.path,
                    request.headers.get(KEY_HEADER),
                    request.headers.get("idempotency-key"),
                )
            )
            return await call_next(request)

        def missing(tid: int) -> JSONResponse:
            return JSONResponse({"detail": f"no ticket {tid}"}, status_code=404)

        @app.post("/api/v1/tickets")
        async def open_ticket(request: Request) -> JSONResponse:
            body = await request.json()
            again = request.headers.get("idempotency-key")
            if again is not None and again in self.by_idempotency:
                t = self.tickets[self.by_idempotency[again]]
            else:
                t = FakeTicket(len(self.tickets) + 1, body["tags"], secrets.token_urlsafe(24))
                t.ttl = body.get("ttl")
                if self.assign_at_once:
                    t.state, t.data = "ASSIGNED", f"data-of-{t.id}\n".encode()
                self.tickets[t.id] = t
                if again is not None:
                    self.by_idempotency[again] = t.id
            if self.lose_open_answers:  # opened, but the answer does not arrive
                status = self.lose_open_answers.pop(0)
                return JSONResponse({"detail": "Bad Gateway"}, status_code=status)
            return JSONResponse(t.out(with_data=not t.secret, with_key=True), status_code=201)

        @app.get("/api/v1/tickets/{tid}")
        async def get_ticket(tid: int, request: Request, wait: float = 0) -> JSONResponse:
            t = self.tickets.get(tid)
            if t is None:
                return missing(tid)
            if wait and self.fail_waits:
                return JSONResponse({"detail": "restarting"}, status_code=self.fail_waits.pop(0))
            if wait and t.state == "OPEN":
                t.changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(t.changed.wait(), wait)
            if t.secret and t.data is not None and not self._holder(request, t):
                return refused
            return JSONResponse(t.out(with_data=True))

        @app.post("/api/v1/tickets/{tid}/close")
        async def close_ticket(tid: int, request: Request) -> JSONResponse:
            t = self.tickets.get(tid)
            if t is None:
                return missing(tid)
            if not self._holder(request, t):
                return refused
            t.state = "CLOSED"
            t.changed.set()
            return JSONResponse(t.out(with_data=False))

        @app.post("/api/v1/tickets/{tid}/extend")
        async def extend_ticket(tid: int, request: Request) -> JSONResponse:
            t = self.tickets.get(tid)
            if t is None:
                return missing(tid)
            if not self._holder(request, t):
                return refused
            if t.state == "CLOSED":
                return JSONResponse({"detail": f"ticket {tid} is closed"}, status_code=409)
            t.ttl = (await request.json() or {}).get("ttl") or t.ttl
            return JSONResponse(t.out(with_data=True))

        return app


class FakeServer:
    """The fake on a real port, served by uvicorn in a thread."""

    def __init__(self, port: int | None = None) -> None:
        self.fake = FakeLessor()
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            self.fake.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def start(self) -> FakeServer:
        self._thread.start()
        wait_until(lambda: self._server.started, message="the fake server to listen")
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)
