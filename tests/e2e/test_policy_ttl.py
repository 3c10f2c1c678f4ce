"""Leases against a real server: a ticket not renewed within its TTL is closed and recycled."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from tests.conftest import ServerProcess, wait_until
from tests.e2e.helpers import api, open_ticket, resource, ticket, write_pools

POOLS = """\
fast:
  max: 4
  max_starting: 2
  max_prealloc: 1
  tags: [fake]
  cmd_new: FAKE_CLOUD new
  cmd_delete: FAKE_CLOUD delete
slow:
  max: 2
  max_prealloc: 0
  start_for_waiting: true
  tags: [slow]
  cmd_new: sleep 2.5 && FAKE_CLOUD new
  cmd_delete: FAKE_CLOUD delete
"""


def test_leases_expire_unless_renewed(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    server = start_server(write_pools(tmp_path / "pools.yaml", POOLS))

    # Not renewed: closed at its expiry, and its resource deleted.
    lapsed = open_ticket(server, "--tag", "fake", "--ttl", "1")
    server.lessor("ticket-wait", str(lapsed), check=True)
    rid = ticket(server, lapsed)["resource_id"]
    wait_until(lambda: ticket(server, lapsed)["state"] == "CLOSED", message="expiry")
    assert ticket(server, lapsed)["message"] == "expired: not extended within its TTL of 1s"
    wait_until(lambda: resource(server, rid)["state"] == "ENDED", message="recycling")
    assert server.lessor("ticket-extend", str(lapsed)).returncode == 4  # too late

    # Renewed (the API's heartbeat, then the CLI's): alive well past its first TTL.
    opened = api(server, "POST", "/api/v1/tickets", json={"tags": ["fake"], "ttl": 3}).json()
    kept, key = opened["id"], opened["key"]
    holder = {"Lessor-Ticket-Key": key}
    server.lessor("ticket-wait", str(kept), check=True, LESSOR_TICKET_KEY=key)
    deadline = time.monotonic() + 4  # past its first TTL; a CLI start under load fits in 3 s
    while time.monotonic() < deadline:
        extended = api(server, "POST", f"/api/v1/tickets/{kept}/extend", headers=holder)
        assert extended.status_code == 200, extended.text
        time.sleep(0.3)  # a client's heartbeat period, not a wait for state
    done = server.lessor(
        "ticket-extend", str(kept), "--ttl", "30", check=True, LESSOR_TICKET_KEY=key
    )
    assert done.stdout.startswith(f"{kept} ASSIGNED until ")
    assert ticket(server, kept)["state"] == "ASSIGNED" and ticket(server, kept)["ttl"] == 30

    # Bad values are refused, saying what was wrong.
    done = server.lessor("ticket", "--tag", "fake", "--ttl", "0")
    assert done.returncode == 2 and "--ttl" in done.stderr
    answer = api(server, "POST", "/api/v1/tickets", json={"tags": ["fake"], "ttl": -5})
    assert answer.status_code == 422 and "ttl" in answer.json()["detail"]
    plain = api(server, "POST", "/api/v1/tickets", json={"tags": ["fake"]}).json()
    answer = api(
        server,
        "POST",
        f"/api/v1/tickets/{plain['id']}/extend",
        headers={"Lessor-Ticket-Key": plain["key"]},
    )
    assert answer.status_code == 422
    assert answer.json()["detail"] == f"ticket {plain['id']} has no TTL; say for how long (ttl)"


def test_ticket_wait_ttl_renews_the_lease_while_it_waits(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    gated = f"""\
gated:
  max: 1
  max_prealloc: 0
  start_for_waiting: true
  tags: [gated]
  cmd_new: while [ ! -e {gate} ]; do sleep 0.05; done; FAKE_CLOUD new
  cmd_delete: FAKE_CLOUD delete
"""
    server = start_server(write_pools(tmp_path / "pools.yaml", POOLS + gated))

    # Opened with room for the CLI to start (a Python start takes seconds under load);
    # from its first renewal on, the lease is 2 s and only ticket-wait keeps it alive.
    renewed = open_ticket(server, "--tag", "gated", "--ttl", "30")
    waiting = subprocess.Popen(
        [sys.executable, "-m", "lessor.cli", "ticket-wait", str(renewed), "--ttl", "2"],
        env={**server.env, "LESSOR_SERVER": server.url},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: ticket(server, renewed)["ttl"] == 2, message="a 2 s lease")
        first = datetime.fromisoformat(ticket(server, renewed)["expires_at"])
        # Three leases later it still waits: renewed, or it would have expired.
        wait_until(
            lambda: (
                datetime.fromisoformat(ticket(server, renewed)["expires_at"])
                > first + timedelta(seconds=6)
            ),
            timeout=60,
            message="a lease renewed past three of its TTLs",
        )
        assert ticket(server, renewed)["state"] == "OPEN"
        gate.touch()
        out, err = waiting.communicate(timeout=60)
    finally:
        waiting.kill()
    assert waiting.returncode == 0, err
    assert out.startswith("127.0.0.")
    assert ticket(server, renewed)["state"] == "ASSIGNED"

    # Without --ttl nobody renews it: the wait ends with the expired ticket.
    lapsing = open_ticket(server, "--tag", "slow", "--ttl", "1")
    given_up = server.lessor("ticket-wait", str(lapsing))
    assert given_up.returncode == 5
    assert f"ticket {lapsing} is CLOSED: expired" in given_up.stderr
