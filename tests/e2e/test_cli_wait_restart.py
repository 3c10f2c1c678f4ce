"""`lessor ticket-wait` outlives a restart of the server it waits on."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import psutil
from tests.conftest import ServerProcess, wait_until
from tests.e2e.helpers import write_pools


def connected(pid: int, port: int) -> bool:
    """Whether the process has a connection open to the port (its long-poll is in flight)."""
    try:
        return any(
            c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED
            for c in psutil.Process(pid).net_connections()
        )
    except psutil.NoSuchProcess:
        return False


def test_ticket_wait_reconnects_across_a_restart_and_prints_the_data(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    flag = tmp_path / "cloud-ready"
    pools = write_pools(
        tmp_path / "pools.yaml",
        "w:\n  max: 1\n  max_prealloc: 0\n  start_for_waiting: true\n  tags: [w]\n"
        f"  cmd_new: while [ ! -e {flag} ]; do sleep 0.05; done; echo ready-$RESALLOC_ID_IN_POOL\n"
        "  cmd_delete: 'true'\n",
    )
    server = start_server(pools)
    tid = server.lessor("ticket", "--tag", "w", check=True).stdout.strip()
    err = tmp_path / "wait.stderr"
    with err.open("w") as errf:
        waiting = subprocess.Popen(
            [sys.executable, "-m", "lessor.cli", "ticket-wait", tid, "--timeout", "90"],
            env={**server.env, "LESSOR_SERVER": server.url},
            stdout=subprocess.PIPE,
            stderr=errf,
        )
    port = int(server.url.rsplit(":", 1)[1])
    wait_until(lambda: connected(waiting.pid, port), message="ticket-wait's long-poll")

    server.stop()  # mid-wait: the long-poll is cut (or answered with an error)
    wait_until(lambda: "went away; reconnecting" in err.read_text(), message="the note")
    assert waiting.poll() is None  # still waiting, not failed with exit 4

    flag.touch()
    server.start()
    out, _ = waiting.communicate(timeout=60)
    assert waiting.returncode == 0, err.read_text()
    assert out.startswith(b"ready-")  # the data, byte for byte
    assert err.read_text().count("went away; reconnecting") == 1
    assert "Traceback" not in err.read_text()
