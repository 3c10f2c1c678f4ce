"""Helpers of the end-to-end tests: pools files, listings over the API, the admin token."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import EXAMPLES, ServerProcess

FAKE_CLOUD = EXAMPLES / "fake-cloud"
TOKEN = "s3cret-admin"


def write_pools(path: Path, text: str) -> Path:
    path.write_text(text.replace("FAKE_CLOUD", str(FAKE_CLOUD)))
    return path


def api(server: ServerProcess, method: str, path: str, **kw: Any) -> Any:
    with server.client() as c:
        return c.request(method, path, **kw)


def resources(
    server: ServerProcess, pool: str | None = None, **params: Any
) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = api(server, "GET", "/api/v1/resources", params=params).json()
    return [r for r in found if pool is None or r["pool"] == pool]


def resource(server: ServerProcess, rid: int) -> dict[str, Any]:
    return api(server, "GET", f"/api/v1/resources/{rid}").json()  # type: ignore[no-any-return]


def ticket(server: ServerProcess, tid: int | str) -> dict[str, Any]:
    return api(server, "GET", f"/api/v1/tickets/{tid}").json()  # type: ignore[no-any-return]


def up(server: ServerProcess, pool: str) -> list[dict[str, Any]]:
    return [r for r in resources(server, pool) if r["state"] == "UP"]


def pool_info(server: ServerProcess, name: str) -> dict[str, Any]:
    pools = api(server, "GET", "/api/v1/pools").json()
    return next(p for p in pools if p["name"] == name)  # type: ignore[no-any-return]


def open_ticket(server: ServerProcess, *args: str) -> int:
    done = server.lessor("ticket", *args, check=True)
    return int(done.stdout)


def admin(server: ServerProcess, *args: str) -> Any:
    """The real CLI with the admin token."""
    return server.lessor(*args, LESSOR_ADMIN_TOKEN=TOKEN)


def events(server: ServerProcess, **filters: object) -> list[dict[str, Any]]:
    """The server's event log (GET /api/v1/events) with these filters, oldest first."""
    answer = api(server, "GET", "/api/v1/events", params={"limit": 1000, **filters})
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def with_admin_token(
    start_server: Callable[..., ServerProcess], tmp_path: Path, pools: str, token: str
) -> ServerProcess:
    """A server on these pools whose admin token is `token`, read from a 0600 file."""
    path = write_pools(tmp_path / "pools.yaml", pools)
    file = tmp_path / "admin-token"
    file.write_text(token)
    file.chmod(0o600)
    return start_server(pools=path, extra=("--admin-token-file", str(file)))


def as_caller(server: ServerProcess, home: Path, *args: str, **env: str) -> tuple[int, str, str]:
    """The real CLI as one caller of several: `home` is its own state directory, where the
    CLI keeps the keys of the tickets it opened, so a second caller does not have them."""
    done = server.lessor(*args, XDG_STATE_HOME=str(home), **env)
    return done.returncode, done.stdout, done.stderr
