"""A real `lessor agent` against a real server (SQLite and PostgreSQL): it registers the
host, keeps its identity across restarts, reserves its inventory on SIGTERM, is down when
silent and up when back, and a wrong token is refused."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import ServerProcess, wait_until
from tests.e2e.helpers import TOKEN, api
from tests.hw.fake_sysfs import two_socket_smt

AGENT = "agent-token-of-the-test"


def start_agent(server: ServerProcess, tmp_path: Path, token: str = AGENT) -> subprocess.Popen[str]:
    sysfs = tmp_path / "sys"
    if not sysfs.exists():
        two_socket_smt(sysfs)
    cfg = tmp_path / "agent.yaml"
    cfg.write_text(
        f"disk_path: {tmp_path}\nreserved: {{vcpu: 1, memory_mb: 64}}\ntraits: [CUSTOM_LAB_A]\n"
        "heartbeat: 0.3\n"
    )
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lessor.cli",
            "agent",
            "--server",
            server.url,
            "--name",
            "host-a",
            "--config",
            str(cfg),
            "--state-dir",
            str(tmp_path / "agent-state"),
        ],
        env={
            **os.environ,
            "LESSOR_AGENT_TOKEN": token,
            # two NUMA nodes, whatever this machine has
            "LESSOR_SYSFS_ROOT": str(sysfs),
        },
        stdout=(tmp_path / "agent.log").open("a"),
        stderr=subprocess.STDOUT,
        text=True,
    )


def host(server: ServerProcess) -> dict[str, Any] | None:
    found = [p for p in api(server, "GET", "/api/v1/providers").json() if p["name"] == "host-a"]
    return found[0] if found else None


def registered(server: ServerProcess) -> dict[str, Any] | None:
    """The host's provider once the agent has written all of it (its last NUMA node last)."""
    found = {p["name"]: p for p in api(server, "GET", "/api/v1/providers").json()}
    done = "PCPU" in found.get("host-a_numa1", {}).get("inventories", {})
    return found["host-a"] if done else None


def test_agent_registers_keeps_its_uuid_and_reserves_on_sigterm(
    start_server: Callable[..., ServerProcess], tmp_path: Path, db_url: str
) -> None:
    server = start_server(
        db=db_url, LESSOR_SERVER_ADMIN_TOKEN=TOKEN, LESSOR_SERVER_AGENT_TOKEN=AGENT
    )
    agent = start_agent(server, tmp_path)
    try:
        first: Any = wait_until(
            lambda: registered(server), timeout=30, message="the agent's provider"
        )
        assert first["inventories"]["VCPU"]["reserved"] == 1
        assert first["inventories"]["VCPU"]["capacity"] == first["inventories"]["VCPU"]["total"] - 1
        assert "CUSTOM_LAB_A" in first["traits"]
        placement = api(
            server,
            "GET",
            "/placement/resource_providers",
            headers={"x-auth-token": TOKEN, "openstack-api-version": "placement 1.14"},
        ).json()["resource_providers"]
        assert first["uuid"] in {p["uuid"] for p in placement}
        children = [p for p in placement if p["parent_provider_uuid"] == first["uuid"]]
        assert sorted(p["name"] for p in children) == ["host-a_numa0", "host-a_numa1"]
        assert "host-a" in server.lessor("providers", check=True).stdout

        agent.send_signal(signal.SIGTERM)
        assert agent.wait(30) == 0
        drained: Any = host(server)
        assert all(i["capacity"] == 0 for i in drained["inventories"].values())

        agent = start_agent(server, tmp_path)  # a restart: same uuid, reservation cleared
        wait_until(
            lambda: (h := host(server)) and h["inventories"]["VCPU"]["capacity"] > 0,
            timeout=30,
            message="the restarted agent to clear its reservation",
        )
        again: Any = host(server)
        assert again["uuid"] == first["uuid"]
        assert len([p for p in api(server, "GET", "/api/v1/providers").json()]) == len(placement)
    finally:
        agent.terminate()
        agent.wait(30)


def test_an_agent_with_a_wrong_token_is_refused(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    server = start_server(LESSOR_SERVER_ADMIN_TOKEN=TOKEN, LESSOR_SERVER_AGENT_TOKEN=AGENT)
    agent = start_agent(server, tmp_path, token="not-the-token")
    assert agent.wait(30) == 2
    out = (tmp_path / "agent.log").read_text()
    assert "refused the agent's token" in out and "not-the-token" not in out
    assert host(server) is None


def test_the_agent_token_registers_providers_and_nothing_else(
    start_server: Callable[..., ServerProcess],
) -> None:
    server = start_server(LESSOR_SERVER_ADMIN_TOKEN=TOKEN, LESSOR_SERVER_AGENT_TOKEN=AGENT)

    def placement(method: str, path: str, token: str | None, **kw: Any) -> int:
        headers = {"openstack-api-version": "placement 1.28"}
        if token is not None:
            headers["x-auth-token"] = token
        answer = api(server, method, f"/placement{path}", headers=headers, **kw)
        return answer.status_code  # type: ignore[no-any-return]

    body = {"name": "h", "uuid": "7a1bdc3e-9a3b-4c43-9d80-6f1b2a4c1e01"}
    assert placement("POST", "/resource_providers", None, json=body) == 401
    assert placement("POST", "/resource_providers", "guess", json=body) == 403
    assert placement("POST", "/resource_providers", AGENT, json=body) == 200
    # an agent's token writes no allocations and deletes nothing
    alloc = {
        "allocations": {body["uuid"]: {"resources": {"VCPU": 1}}},
        "project_id": "p",
        "user_id": "u",
        "consumer_generation": None,
    }
    consumer = "/allocations/1b9e7c52-6a43-4f3e-8d0a-2c1f7e3b9a11"
    assert placement("PUT", consumer, AGENT, json=alloc) == 403
    assert placement("DELETE", f"/resource_providers/{body['uuid']}", AGENT) == 403
    beat = f"/api/v1/agents/{body['uuid']}/heartbeat"
    assert api(server, "POST", beat).status_code == 401
    assert api(server, "POST", beat, headers={"authorization": "Bearer guess"}).status_code == 403
    answer = api(server, "POST", beat, headers={"authorization": f"Bearer {AGENT}"})
    assert answer.status_code == 200 and answer.json() == {"was_down": False}
    assert placement("DELETE", f"/resource_providers/{body['uuid']}", TOKEN) == 204


def test_a_silent_agent_is_down_until_it_beats_again(
    start_server: Callable[..., ServerProcess], tmp_path: Path, db_url: str
) -> None:
    server = start_server(
        db=db_url,
        extra=("--agent-silence", "1.5"),
        LESSOR_SERVER_ADMIN_TOKEN=TOKEN,
        LESSOR_SERVER_AGENT_TOKEN=AGENT,
    )
    agent = start_agent(server, tmp_path)
    try:
        wait_until(
            lambda: "registered host-a as provider" in (tmp_path / "agent.log").read_text(),
            timeout=30,
            message="registration and a first heartbeat",
        )
        first: Any = host(server)
        assert first["reason"] is None
        agent.kill()  # kill -9: no drain, only silence
        agent.wait(10)
        wait_until(
            lambda: (host(server) or {}).get("reason") == "down",
            timeout=30,
            message="the silent agent's provider to be down",
        )
        assert "host-a (down)" in server.lessor("providers", check=True).stdout
        with server.client() as c:
            page = c.get("/ui/providers")
        assert page.status_code == 200
        row = re.search(r'<tr class="down">\s*<td[^>]*>host-a</td>\s*<td><strong>down', page.text)
        assert row is not None, page.text
        why = server.lessor(
            "candidates", "resources=VCPU:1&required=CUSTOM_LAB_A", "--explain", check=True
        ).stdout
        assert "reserved: down" in why
        agent = start_agent(server, tmp_path)
        wait_until(
            lambda: (h := host(server)) is not None and h["reason"] is None,
            timeout=30,
            message="the returning agent to clear down",
        )
    finally:
        agent.terminate()
        agent.wait(30)
