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


def test_a_stop_answers_long_polls_and_streams_at_once_and_logs_no_error(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    import threading
    import time

    import httpx

    pools = write_pools(
        tmp_path / "pools.yaml",
        "w:\n  max: 1\n  max_prealloc: 0\n  tags: [w]\n  cmd_new: echo x\n  cmd_delete: 'true'\n",
    )
    server = start_server(pools)
    tid = server.lessor("ticket", "--tag", "w", check=True).stdout.strip()  # waits: no spare
    answers: dict[str, object] = {}

    def long_poll() -> None:
        answers["poll"] = httpx.get(f"{server.url}/api/v1/tickets/{tid}?wait=60", timeout=90)

    def stream() -> None:
        with httpx.stream("GET", f"{server.url}/api/v1/events?follow=1", timeout=90) as r:
            answers["stream"] = sum(1 for _ in r.iter_lines())

    threads = [threading.Thread(target=f) for f in (long_poll, stream)]
    for t in threads:
        t.start()
    port = int(server.url.rsplit(":", 1)[1])
    wait_until(
        lambda: (
            sum(
                c.laddr.port == port and c.status == psutil.CONN_ESTABLISHED
                for c in psutil.Process(server.proc.pid).net_connections()
            )
            >= 2
        ),
        message="both requests in flight",
    )
    stopped = time.monotonic()
    server.stop()
    for t in threads:
        t.join(30)
    assert time.monotonic() - stopped < 5  # not the long-poll's 60 s, nor a forced cut
    poll = answers["poll"]
    assert isinstance(poll, httpx.Response) and poll.status_code == 200
    assert poll.json()["state"] == "OPEN"  # the ticket still waits: the client asks again
    assert "stream" in answers  # the stream ended cleanly; EventSource resumes by id
    log = server.log.read_text()
    assert "Traceback" not in log and "ERROR" not in log and "CancelledError" not in log
