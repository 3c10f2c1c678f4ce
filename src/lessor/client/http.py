"""A small Python client of the JSON API; it imports nothing of the server."""

from __future__ import annotations

import os
from typing import Any

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
        self, tags: list[str], sandbox: str | None = None, priority: int = 0
    ) -> dict[str, Any]:
        body = {"tags": tags, "sandbox": sandbox, "priority": priority}
        return self._call("POST", "/api/v1/tickets", json=body)  # type: ignore[no-any-return]

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
