"""A resalloc site run by lessor, and the ways resalloc's people reach it.

Each site is a CONFIG_DIR as resalloc has it (server.yaml, pools.yaml), a
`lessor server --config-dir` on it, and a work directory the hooks leave
traces in. The tests reach it only as resalloc's users do: XML-RPC called as
resalloc.client calls it (positional arguments, ids as the CLI's strings),
`lessor maint` where an operator runs resalloc-maint, the hook log files read
byte for byte, and what the hook scripts found in their environment. lessor's
REST API is read only to learn when to look (which resource is STARTING),
never to judge resalloc's behaviour.
"""

from __future__ import annotations

import contextlib
import subprocess
import xmlrpc.client
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from tests.conftest import ServerProcess, wait_until


@dataclass
class Site:
    server: ServerProcess
    etc: Path
    """CONFIG_DIR: server.yaml and pools.yaml."""
    logs: Path
    """server.yaml's logdir."""
    work: Path
    """Where the hooks leave their traces and wait for the gates the tests open."""

    @property
    def url(self) -> str:
        return self.server.url

    def rpc(self, path: str = "") -> xmlrpc.client.ServerProxy:
        """What resalloc.client.Connection builds: a plain ServerProxy of the URL."""
        return xmlrpc.client.ServerProxy(self.url + path)

    def lessor(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return self.server.lessor(*args, **env)

    def maint(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`lessor maint …` as an operator runs resalloc-maint: CONFIG_DIR names the site."""
        return self.server.lessor("maint", *args, CONFIG_DIR=str(self.etc))

    def maint_lines(self, *args: str) -> list[str]:
        done = self.maint(*args)
        assert done.returncode == 0, done.stderr
        return done.stdout.splitlines()

    def hook_log(self, resource_id: int, suffix: str) -> bytes:
        path = self.logs / "hooks" / f"{resource_id:06d}_{suffix}"
        return path.read_bytes() if path.exists() else b""

    def trace(self, name: str) -> list[str]:
        path = self.work / name
        return path.read_text().splitlines() if path.exists() else []

    def env_of(self, resource_id: int, hook: str) -> dict[str, str] | None:
        """The RESALLOC_*/LESSOR_* variables a hook saw (see DUMP_ENV), None if it did not run."""
        path = self.work / "env" / f"{resource_id}.{hook}"
        if not path.exists():
            return None
        return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)

    def open_gate(self, name: str) -> None:
        (self.work / name).touch()

    # lessor's own view, only to know when to look

    def get(self, path: str, **params: Any) -> Any:
        with self.server.client() as c:
            answer = c.get(path, params=params)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def resources(self, pool: str | None = None) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.get("/api/v1/resources")
        return [r for r in found if pool is None or r["pool"] == pool]

    def resource(self, rid: int) -> dict[str, Any]:
        return self.get(f"/api/v1/resources/{rid}")  # type: ignore[no-any-return]

    def ticket(self, tid: int) -> dict[str, Any]:
        return self.get(f"/api/v1/tickets/{tid}")  # type: ignore[no-any-return]

    def in_state(self, pool: str, state: str) -> list[dict[str, Any]]:
        return [r for r in self.resources(pool) if r["state"] == state]

    def wait_for(self, pool: str, state: str, count: int = 1) -> list[dict[str, Any]]:
        """The pool's resources in `state`, once there are at least `count` of them."""
        found = wait_until(
            lambda: (rows := self.in_state(pool, state)) and len(rows) >= count and rows,
            message=f"{count} {state} in pool {pool}",
        )
        return found  # type: ignore[return-value]


DUMP_ENV = (
    "mkdir -p WORK/env && env | grep -E '^(RESALLOC|LESSOR)_' | sort "
    "> WORK/env/$RESALLOC_ID.{hook}.tmp && mv WORK/env/$RESALLOC_ID.{hook}.tmp "
    "WORK/env/$RESALLOC_ID.{hook}"
)
"""A hook command's prefix that keeps the hook's RESALLOC_* and LESSOR_* variables, per
resource and hook, written whole (renamed) so that a reader never sees half of it."""


def dump_env(hook: str) -> str:
    return DUMP_ENV.replace("{hook}", hook)


SiteFactory = Callable[..., Site]
"""`sites(db, pools_yaml, server_yaml=…, **env)` starts one (see conftest.py)."""


def restart(site: Site, *, kill: bool = False) -> None:
    """Stops the site's server (kill -9 if `kill`) and starts it again on the same port."""
    if kill:
        site.server.kill9()
    else:
        site.server.stop()
    site.server.start()


def rest_open(site: Site, tags: list[str]) -> httpx.Response:
    with site.server.client() as c:
        return c.post("/api/v1/tickets", json={"tags": tags})


def server_log(site: Site) -> str:
    return site.server.log.read_text(errors="replace")


@contextlib.contextmanager
def held_open(path: Path) -> Iterator[None]:
    """A gate file that exists while the block runs (a hook waits while it exists)."""
    path.touch()
    try:
        yield
    finally:
        path.unlink(missing_ok=True)
