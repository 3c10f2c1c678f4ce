"""`lessor agent`'s process: read the host, register it over Placement's API, wait, drain.

The host's identity is a uuid kept in the state directory (`provider-uuid`), so a
restart updates the same provider instead of making a new one; its NUMA children
get uuids derived from it. Registration (re)writes inventories and traits as
the host has them now, which also clears a reservation the last stop left.
SIGINT/SIGTERM reserve every inventory in full (reserved = total: nothing new
can be placed, by lessor or by any Placement client) and exit 0.
Between the two, the agent sleeps and sends a heartbeat every `heartbeat` seconds
(`POST /api/v1/agents/{uuid}/heartbeat`); a server that does not know the provider
(a new database) gets it registered again. A server that hears nothing for its
`agent_silence` marks the providers down, and the next heartbeat clears that.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import uuid as uuidlib
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
import psutil

from lessor.agent.config import AgentConfig
from lessor.agent.inventory import HostFacts, Provider, host_providers
from lessor.hw.topology import read_topology, sysfs_root

log = logging.getLogger("lessor.agent")
VERSION = {"openstack-api-version": "placement 1.28"}
UUID_FILE = "provider-uuid"


class AgentError(Exception):
    """The server refused the agent, or cannot be reached: the message says which."""


def host_facts(disk_path: Path) -> HostFacts:
    flags: frozenset[str] = frozenset()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = frozenset(line.partition(":")[2].split())
                break
    except OSError:
        pass
    return HostFacts(
        vcpus=psutil.cpu_count() or 1,
        memory_mb=psutil.virtual_memory().total // 2**20,
        disk_gb=psutil.disk_usage(str(disk_path)).total // 2**30,
        cpu_flags=flags,
    )


def root_uuid(state_dir: Path) -> str:
    """The host's provider uuid: made once, kept in the state directory."""
    path = state_dir / UUID_FILE
    if path.exists():
        return str(uuidlib.UUID(path.read_text().strip()))
    state_dir.mkdir(parents=True, exist_ok=True)
    made = str(uuidlib.uuid4())
    tmp = path.with_suffix(".tmp")
    tmp.write_text(made + "\n")
    tmp.replace(path)
    return made


class Agent:
    def __init__(
        self, server: str, token: str, name: str | None, cfg: AgentConfig, state_dir: Path
    ) -> None:
        self.cfg = cfg
        self.name = name or cfg.name or socket.gethostname()
        self.uuid = root_uuid(state_dir)
        # the token goes in a header, never in argv or a log line
        # `server` is normalized by lessor.client.http.server_url, as every client's is
        self.http = httpx.Client(
            base_url=server + "/placement",
            headers={"x-auth-token": token, **VERSION},
            timeout=30,
        )
        self.beat_url = f"{server}/api/v1/agents/{self.uuid}/heartbeat"
        self.bearer = {"authorization": f"Bearer {token}"}
        self.stopping = threading.Event()

    def providers(self) -> list[tuple[str, Provider]]:
        """(uuid, provider) of the host and its NUMA nodes, as the host is now."""
        facts = host_facts(self.cfg.disk_path)
        topo = read_topology(sysfs_root(), nvml=False)
        tree = host_providers(self.name, facts, topo, self.cfg.reserves, self.cfg.traits)
        root = uuidlib.UUID(self.uuid)
        return [
            (self.uuid if p.numa_node is None else str(uuidlib.uuid5(root, p.name)), p)
            for p in tree
        ]

    def _call(self, method: str, path: str, body: Any = None, ok: tuple[int, ...] = ()) -> Any:
        try:
            r = self.http.request(method, path, json=body)
        except httpx.TransportError as e:
            raise AgentError(f"cannot reach {self.http.base_url}: {e}") from None
        if r.status_code in ok:
            return None
        if r.status_code in (401, 403):
            raise AgentError(f"the server refused the agent's token ({r.status_code})")
        if r.status_code >= 400:
            detail = r.text.strip().splitlines()[-1:] or [""]
            raise AgentError(f"{method} {path}: {r.status_code} {detail[0][:300]}")
        return r.json() if r.content else None

    def register(self, drained: bool = False) -> None:
        """Create or update the host's providers; `drained`: every inventory fully reserved."""
        for uuid, p in self.providers():
            path = f"/resource_providers/{uuid}"
            got = self._call("GET", path, ok=(404,))
            if got is None:
                body: dict[str, Any] = {"name": p.name, "uuid": uuid}
                if p.numa_node is not None:
                    body["parent_provider_uuid"] = self.uuid
                got = self._call("POST", "/resource_providers", body)
            elif got["name"] != p.name:
                got = self._call("PUT", path, {"name": p.name})
            for rc in p.inventories:
                if rc.startswith("CUSTOM_"):
                    self._call("PUT", f"/resource_classes/{rc}", ok=(201, 204))
            inventories = {
                rc: {"total": n, "reserved": n if drained else min(p.reserved.get(rc, 0), n)}
                for rc, n in p.inventories.items()
            }
            got = self._call(
                "PUT",
                f"{path}/inventories",
                {"resource_provider_generation": got["generation"], "inventories": inventories},
            )
            for t in p.traits:
                if t.startswith("CUSTOM_"):
                    self._call("PUT", f"/traits/{t}", ok=(201, 204))
            self._call(
                "PUT",
                f"{path}/traits",
                {
                    "resource_provider_generation": got["resource_provider_generation"],
                    "traits": list(p.traits),
                },
            )

    def beat(self) -> None:
        """One heartbeat; the provider registered again if the server does not know it."""
        try:
            r = self.http.post(self.beat_url, headers=self.bearer)
        except httpx.TransportError as e:
            raise AgentError(f"cannot reach {self.beat_url}: {e}") from None
        if r.status_code == 404:
            self.register()
            log.info("registered %s again: the server did not know it", self.name)
            r = self.http.post(self.beat_url, headers=self.bearer)
        if r.status_code in (401, 403):
            raise AgentError(f"the server refused the agent's token ({r.status_code})")
        if r.status_code >= 400:
            raise AgentError(f"heartbeat: {r.status_code} {r.text[:300]}")
        if r.json().get("was_down"):
            log.info("%s is up again", self.name)

    def run(self) -> None:
        self.register()
        self.beat()
        log.info("registered %s as provider %s", self.name, self.uuid)
        while not self.stopping.wait(self.cfg.heartbeat):
            try:
                self.beat()
            except AgentError as e:  # a server away for a while is no reason to exit
                log.warning("%s", e)
        self.register(drained=True)
        log.info("stopping: the inventory of %s is reserved (no new placements)", self.name)

    def stop(self, signum: int, _frame: FrameType | None) -> None:
        self.stopping.set()


def serve(agent: Agent) -> None:
    """Run until SIGINT or SIGTERM, then drain."""
    signal.signal(signal.SIGTERM, agent.stop)
    signal.signal(signal.SIGINT, agent.stop)
    agent.run()


def token_from_env(explicit: str | None) -> str | None:
    return explicit or os.environ.get("LESSOR_AGENT_TOKEN") or None
