"""A small Python client of the JSON API; it imports nothing of the server."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx

DEFAULT_SERVER = "http://localhost:49100"


class ClientError(Exception):
    """The server refused the request; the message is the server's."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class ServerUnreachable(Exception):
    """No lessor server answered at the given address."""


def server_url(explicit: str | None = None) -> str:
    return (explicit or os.environ.get("LESSOR_SERVER") or DEFAULT_SERVER).rstrip("/")


class LessorClient:
    def __init__(
        self, server: str | None = None, admin_token: str | None = None, timeout: float = 30.0
    ) -> None:
        self.server = server_url(server)
        headers = {}
        token = admin_token or os.environ.get("LESSOR_ADMIN_TOKEN")
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(base_url=self.server, headers=headers, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> LessorClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as e:
            raise ServerUnreachable(f"cannot reach the lessor server at {self.server}: {e}") from e
        if response.status_code >= 400:
            try:
                message = response.json().get("detail") or response.text
            except ValueError:
                message = response.text or response.reason_phrase
            raise ClientError(response.status_code, str(message))
        return response.json()

    def open_ticket(
        self,
        tags: list[str],
        sandbox: str | None = None,
        priority: int = 0,
        ttl: float | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"tags": tags, "sandbox": sandbox, "priority": priority}
        if ttl is not None:
            body["ttl"] = ttl
        return self._call("POST", "/api/v1/tickets", json=body)  # type: ignore[no-any-return]

    def extend_ticket(self, ticket_id: int, ttl: float | None = None) -> dict[str, Any]:
        body = {"ttl": ttl} if ttl is not None else None
        return self._call("POST", f"/api/v1/tickets/{ticket_id}/extend", json=body)  # type: ignore[no-any-return]

    def hold_resource(self, resource_id: int, reason: str = "") -> dict[str, Any]:
        path = f"/api/v1/resources/{resource_id}/hold"
        return self._call("POST", path, json={"reason": reason})  # type: ignore[no-any-return]

    def unhold_resource(self, resource_id: int) -> dict[str, Any]:
        return self._call("POST", f"/api/v1/resources/{resource_id}/unhold")  # type: ignore[no-any-return]

    def drain_pool(self, name: str, reason: str = "") -> dict[str, Any]:
        path = f"/api/v1/pools/{quote(name, safe='')}/drain"
        return self._call("POST", path, json={"reason": reason})  # type: ignore[no-any-return]

    def undrain_pool(self, name: str) -> dict[str, Any]:
        return self._call("POST", f"/api/v1/pools/{quote(name, safe='')}/undrain")  # type: ignore[no-any-return]

    def reload(self) -> dict[str, Any]:
        return self._call("POST", "/api/v1/reload")  # type: ignore[no-any-return]

    def get_ticket(self, ticket_id: int, wait: float = 0) -> dict[str, Any]:
        params = {"wait": wait} if wait else None
        timeout = httpx.Timeout(self._http.timeout.read or 30.0, read=wait + 30.0)
        return self._call(  # type: ignore[no-any-return]
            "GET", f"/api/v1/tickets/{ticket_id}", params=params, timeout=timeout
        )

    def close_ticket(self, ticket_id: int) -> dict[str, Any]:
        return self._call("POST", f"/api/v1/tickets/{ticket_id}/close")  # type: ignore[no-any-return]

    def tickets(self, states: list[str] | None = None) -> list[dict[str, Any]]:
        return self._call("GET", "/api/v1/tickets", params={"state": states or []})  # type: ignore[no-any-return]

    def resources(self, include_ended: bool = False) -> list[dict[str, Any]]:
        params = {"all": "true"} if include_ended else None
        return self._call("GET", "/api/v1/resources", params=params)  # type: ignore[no-any-return]

    def resource(self, resource_id: int) -> dict[str, Any]:
        return self._call("GET", f"/api/v1/resources/{resource_id}")  # type: ignore[no-any-return]

    def delete_resource(self, resource_id: int) -> dict[str, Any]:
        return self._call("DELETE", f"/api/v1/resources/{resource_id}")  # type: ignore[no-any-return]

    def pools(self) -> list[dict[str, Any]]:
        return self._call("GET", "/api/v1/pools")  # type: ignore[no-any-return]

    def events(self, **filters: Any) -> list[dict[str, Any]]:
        """The newest events (ticket=, resource=, pool=, kind=, since=, limit=), oldest first."""
        params = {k: v for k, v in filters.items() if v is not None}
        return self._call("GET", "/api/v1/events", params=params)  # type: ignore[no-any-return]

    def follow_events(self, **filters: Any) -> Iterator[dict[str, Any]]:
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
                        last = event["id"]
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
    except ValueError:
        return response.text or response.reason_phrase


def _sse(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """Events of a text/event-stream: `data:` lines up to a blank line; comments skipped."""
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                yield json.loads("\n".join(data))
            data = []
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
