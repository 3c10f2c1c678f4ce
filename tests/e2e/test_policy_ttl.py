"""Leases against a real server: a ticket not renewed within its TTL is closed and recycled."""

from __future__ import annotations

import time
from collections.abc import Callable
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
    server = start_server(write_pools(tmp_path / "pools.yaml", POOLS))

    renewed = open_ticket(server, "--tag", "slow", "--ttl", "1")
    waited = server.lessor("ticket-wait", str(renewed), "--ttl", "1")
    assert waited.returncode == 0, waited.stderr
    assert waited.stdout.startswith("127.0.0.")
    assert ticket(server, renewed)["state"] == "ASSIGNED"

    # Without --ttl nobody renews it: the wait ends with the expired ticket.
    lapsing = open_ticket(server, "--tag", "slow", "--ttl", "1")
    given_up = server.lessor("ticket-wait", str(lapsing))
    assert given_up.returncode == 5
    assert f"ticket {lapsing} is CLOSED: expired" in given_up.stderr
