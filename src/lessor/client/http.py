"""A small Python client of the JSON API; it imports nothing of the server.

Every answer comes back typed (`lessor.client.models`). Calls on one ticket
take its key (`key=`): the server returns it once, when the ticket is opened,
and asks for it to close or extend the ticket and to read a secret pool's data.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from lessor.client.models import (
    EventOut,
    PoolOut,
    ReloadOut,
    ResourceOut,
    ResourceState,
    TicketOut,
    TicketState,
)

DEFAULT_PORT = 49100
DEFAULT_SERVER = f"http://localhost:{DEFAULT_PORT}"
KEY_HEADER = "Lessor-Ticket-Key"
"""The header that proves a request comes from the ticket's holder."""
IDEMPOTENCY_HEADER = "Idempotency-Key"
"""A retried open with the same value answers the ticket the first one opened."""
RETRYABLE = frozenset({502, 503, 504})
"""Answers of a proxy or a server on its way up or down: asking again may work."""


class ClientError(Exception):
    """The server refused the request; the message is the server's."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class ServerUnreachable(Exception):
    """No lessor server answered at the given address.

    `reached`: the request got there, the answer did not (a server going
    away mid-request), as opposed to no connection at all.
    """

    def __init__(self, message: str, reached: bool = False) -> None:
        super().__init__(message)
        self.reached = reached


class BadServerAddress(ServerUnreachable, ValueError):
    """Not a server address: HOST[:PORT] or http(s)://HOST[:PORT][/PATH] is expected.

    A ServerUnreachable too: no server answers at such an address, and
    callers that handle the one (lessor hw) handle the other.
    """


def server_url(explicit: str | None = None) -> str:
    """The server to talk to: `explicit`, else LESSOR_SERVER, else the local default."""
    return normalized_server(explicit or os.environ.get("LESSOR_SERVER") or DEFAULT_SERVER)


def normalized_server(text: str) -> str:
    """`host:port` means http://host:port (a bare host: lessor's port); URLs stay as given."""
    raw = text.strip()
    bare = "://" not in raw
    if bare and "/" in raw.rstrip("/"):
        raise BadServerAddress(f"{text!r} is not a server address: give HOST:PORT or a URL")
    url = f"http://{raw.rstrip('/')}" if bare else raw
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:  # a port that is no number, a bracket left open
        raise BadServerAddress(f"{text!r} is not a server address ({e})") from e
    host = parts.hostname or ""
    if (
        parts.scheme not in ("http", "https")
        or not _HOST.fullmatch(host)
        or parts.query
        or parts.fragment
        or "@" in parts.netloc
    ):
        raise BadServerAddress(f"{text!r} is not a server address: give HOST:PORT or a URL")
    if bare and port is None:
        url = f"{url}:{DEFAULT_PORT}"
    return url.rstrip("/")


_HOST = re.compile(r"[A-Za-z0-9._-]+|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.%A-Za-z]*")
"""A name or IPv4 address, or an IPv6 address (urlsplit has taken off its brackets)."""


class LessorClient:
    def __init__(
        self, server: str | None = None, admin_token: str | None = None, timeout: float = 30.0
    ) -> None:
        self.server = server_url(server)
        headers = {}
        token = admin_token or os.environ.get("LESSOR_ADMIN_TOKEN")
        self.has_admin_token = bool(token)
        token = token or os.environ.get("LESSOR_TOKEN")  # a user's (docs/users.md)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(base_url=self.server, headers=headers, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> LessorClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _call(self, method: str, path: str, key: str | None = None, **kwargs: Any) -> Any:
        """The answer's JSON; ClientError for a refusal, ServerUnreachable for no answer."""
        return self._request(method, path, key, **kwargs).json()

    def _pages(self, path: str, params: dict[str, Any]) -> Iterator[Any]:
        """Every row of a paged list: page after page while the server names a next one
        (its Link header), each asked with the last id of the one before as the cursor."""
        after: int | None = None
        while True:
            page = {**params, "after": after} if after is not None else params
            response = self._request("GET", path, params=page)
            rows = response.json()
            yield from rows
            if not rows or "next" not in response.links:
                return
            after = rows[-1]["id"]

    def _request(
        self, method: str, path: str, key: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        if key is not None:
            kwargs["headers"] = {**kwargs.get("headers", {}), KEY_HEADER: key}
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as e:
            reached = not isinstance(e, httpx.ConnectError | httpx.ConnectTimeout)
            message = f"cannot reach the lessor server at {self.server}: {e}"
            raise ServerUnreachable(message, reached) from e
        if response.status_code >= 400:
            raise ClientError(response.status_code, _detail(response))
        return response

    def open_ticket(
        self,
        tags: list[str],
        sandbox: str | None = None,
        priority: int = 0,
        ttl: float | None = None,
        *,
        idempotency_key: str | None = None,
        retry_for: float = 0.0,
        on_retry: Callable[[Exception], None] | None = None,
    ) -> TicketOut:
        """Open a ticket; the answer carries its key (and only this answer does).

        The request has an idempotency key, so it may be sent again: for
        `retry_for` seconds, a lost answer (no connection, 502, 503, 504) is
        asked for again with the same key (`on_retry` hears of each), and the
        server answers the ticket the first request opened, not a second one.
        """
        body: dict[str, Any] = {"tags": tags, "sandbox": sandbox, "priority": priority}
        if ttl is not None:
            body["ttl"] = ttl
        if idempotency_key is None:
            import uuid

            idempotency_key = str(uuid.uuid4())
        headers = {IDEMPOTENCY_HEADER: idempotency_key}
        deadline = time.monotonic() + retry_for
        pause = 0.2
        while True:
            try:
                answer = self._call("POST", "/api/v1/tickets", json=body, headers=headers)
                return TicketOut.from_json(answer)
            except (ServerUnreachable, ClientError) as e:
                if isinstance(e, ClientError) and e.status not in RETRYABLE:
                    raise
                left = deadline - time.monotonic()
                if left <= 0:
                    raise
                if on_retry is not None:
                    on_retry(e)
                time.sleep(min(pause, left))  # the last attempt at the deadline
                pause = min(pause * 2, 2.0)

    def get_ticket(self, ticket_id: int, wait: float = 0, key: str | None = None) -> TicketOut:
        """The ticket; with `wait`, answered as soon as it leaves OPEN (or after `wait` s)."""
        params = {"wait": wait} if wait else None
        timeout = httpx.Timeout(self._http.timeout.read or 30.0, read=wait + 30.0)
        path = f"/api/v1/tickets/{ticket_id}"
        return TicketOut.from_json(self._call("GET", path, key, params=params, timeout=timeout))

    def close_ticket(self, ticket_id: int, key: str | None = None) -> TicketOut:
        return TicketOut.from_json(self._call("POST", f"/api/v1/tickets/{ticket_id}/close", key))

    def extend_ticket(
        self, ticket_id: int, ttl: float | None = None, key: str | None = None
    ) -> TicketOut:
        body = {"ttl": ttl} if ttl is not None else None
        path = f"/api/v1/tickets/{ticket_id}/extend"
        return TicketOut.from_json(self._call("POST", path, key, json=body))

    # ---- jobs (docs/jobs.md): plain JSON, as the API answers it --------------

    def open_job(
        self, parts: dict[str, list[str]], priority: int = 0, ttl: float | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "parts": {name: {"tags": tags} for name, tags in parts.items()},
            "priority": priority,
        }
        if ttl is not None:
            body["ttl"] = ttl
        answer: dict[str, Any] = self._call("POST", "/api/v1/jobs", json=body)
        return answer

    def get_job(self, job_id: int, wait: float = 0, key: str | None = None) -> dict[str, Any]:
        params = {"wait": wait} if wait else None
        timeout = httpx.Timeout(self._http.timeout.read or 30.0, read=wait + 30.0)
        answer: dict[str, Any] = self._call(
            "GET", f"/api/v1/jobs/{job_id}", key, params=params, timeout=timeout
        )
        return answer

    def close_job(self, job_id: int, key: str | None = None) -> dict[str, Any]:
        answer: dict[str, Any] = self._call("POST", f"/api/v1/jobs/{job_id}/close", key)
        return answer

    def jobs(self) -> list[dict[str, Any]]:
        answer: list[dict[str, Any]] = self._call("GET", "/api/v1/jobs")
        return answer

    # ---- users (docs/users.md) -------------------------------------------

    def add_user(
        self, name: str, admin: bool, privileges: list[str], quotas: dict[str, int]
    ) -> dict[str, Any]:
        body = {"name": name, "admin": admin, "privileges": privileges, "quotas": quotas}
        answer: dict[str, Any] = self._call("POST", "/api/v1/users", json=body)
        return answer

    def users(self) -> list[dict[str, Any]]:
        answer: list[dict[str, Any]] = self._call("GET", "/api/v1/users")
        return answer

    def revoke_user(self, name: str) -> dict[str, Any]:
        answer: dict[str, Any] = self._call("POST", f"/api/v1/users/{name}/revoke")
        return answer

    def rotate_token(self, name: str) -> dict[str, Any]:
        answer: dict[str, Any] = self._call("POST", f"/api/v1/users/{name}/token")
        return answer

    # ---- capacity (docs/placement.md) ------------------------------------

    def providers(self) -> list[dict[str, Any]]:
        """Providers with their inventories (capacity, used), traits and aggregates."""
        return self._call("GET", "/api/v1/providers")  # type: ignore[no-any-return]

    def candidates(self, query: str, explain: bool = False) -> dict[str, Any]:
        """Allocation candidates for a Placement-style query (`resources=VCPU:1&required=…`)."""
        params = [*httpx.QueryParams(query).multi_items(), ("explain", str(explain).lower())]
        return self._call("GET", "/api/v1/candidates", params=params)  # type: ignore[no-any-return]

    def tickets(self, states: list[TicketState] | None = None) -> list[TicketOut]:
        answer = self._pages("/api/v1/tickets", {"state": states or []})
        return [TicketOut.from_json(t) for t in answer]

    def resources(
        self,
        include_ended: bool = False,
        pool: str | None = None,
        states: list[ResourceState] | None = None,
    ) -> list[ResourceOut]:
        """Live resources (with `include_ended`, the ENDED ones too), or those in `states`."""
        params: dict[str, Any] = {"state": states or []}
        if include_ended:
            params["all"] = "true"
        if pool is not None:
            params["pool"] = pool
        return [ResourceOut.from_json(r) for r in self._pages("/api/v1/resources", params)]

    def resource(self, resource_id: int) -> ResourceOut:
        return ResourceOut.from_json(self._call("GET", f"/api/v1/resources/{resource_id}"))

    def delete_resource(self, resource_id: int) -> ResourceOut:
        return ResourceOut.from_json(self._call("DELETE", f"/api/v1/resources/{resource_id}"))

    def hold_resource(self, resource_id: int, reason: str = "") -> ResourceOut:
        path = f"/api/v1/resources/{resource_id}/hold"
        return ResourceOut.from_json(self._call("POST", path, json={"reason": reason}))

    def unhold_resource(self, resource_id: int) -> ResourceOut:
        path = f"/api/v1/resources/{resource_id}/unhold"
        return ResourceOut.from_json(self._call("POST", path))

    def pools(self) -> list[PoolOut]:
        return [PoolOut.from_json(p) for p in self._call("GET", "/api/v1/pools")]

    def drain_pool(self, name: str, reason: str = "") -> PoolOut:
        path = f"/api/v1/pools/{quote(name, safe='')}/drain"
        return PoolOut.from_json(self._call("POST", path, json={"reason": reason}))

    def undrain_pool(self, name: str) -> PoolOut:
        path = f"/api/v1/pools/{quote(name, safe='')}/undrain"
        return PoolOut.from_json(self._call("POST", path))

    def reload(self) -> ReloadOut:
        return ReloadOut.from_json(self._call("POST", "/api/v1/reload"))

    def events(self, **filters: Any) -> list[EventOut]:
        """The newest events (ticket=, resource=, pool=, kind=, since=, limit=), oldest first."""
        params = {k: v for k, v in filters.items() if v is not None}
        return [EventOut.from_json(e) for e in self._call("GET", "/api/v1/events", params=params)]

    def follow_events(self, **filters: Any) -> Iterator[EventOut]:
        """The newest events, then each new one as it happens (server-sent events), forever.

        A dropped connection is resumed where it stopped (Last-Event-ID), so
        a server restart loses and repeats nothing; only the first connection
        failing raises ServerUnreachable.
        """
        params = {k: v for k, v in filters.items() if v is not None}
        last: int | None = None
        connected = False
        while True:
            headers = {"Last-Event-ID": str(last)} if last is not None else {}
            try:
                with self._http.stream(
                    "GET",
                    "/api/v1/events/stream",
                    params=params,
                    headers=headers,
                    timeout=httpx.Timeout(10.0, read=None),
                ) as response:
                    if response.status_code >= 400:
                        response.read()
                        raise ClientError(response.status_code, _detail(response))
                    connected = True
                    for event in _sse(response.iter_lines()):
                        last = event.id
                        yield event
            except httpx.TransportError as e:
                if not connected:
                    raise ServerUnreachable(
                        f"cannot reach the lessor server at {self.server}: {e}"
                    ) from e
                time.sleep(1.0)  # the server is restarting: try again, where we were


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail") or response.text)
    except (ValueError, AttributeError):  # not JSON, or JSON but not an object
        return response.text or response.reason_phrase


def _sse(lines: Iterator[str]) -> Iterator[EventOut]:
    """Events of a text/event-stream: `data:` lines up to a blank line; comments skipped."""
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                yield EventOut.from_json(json.loads("\n".join(data)))
            data = []
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
