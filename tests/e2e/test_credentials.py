"""Minted credentials against a real server: told their lease end, extended with their ticket."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from tests.conftest import ServerProcess, wait_until
from tests.e2e.helpers import api, events, resource, ticket, write_pools

POOLS = """\
token:
  max: 4
  tags: [token]
  credential: true
  cmd_new: ./mint
  cmd_extend: ./extend
  cmd_delete: ./revoke
  delete_backoff: 0.2
  delete_backoff_max: 0.5
vm:
  max: 2
  max_prealloc: 1
  tags: [vm]
  cmd_new: FAKE_CLOUD new
  cmd_delete: FAKE_CLOUD delete
"""

HOOKS = {
    # The credential is a random token; each hook notes the end it was told.
    "mint": 'echo "new $LESSOR_EXPIRES_AT" >> told\n'
    'head -c 16 /dev/urandom | od -An -tx1 | tr -d " \\n"\n',
    "extend": 'echo "extend $LESSOR_EXPIRES_AT" >> told\n[ ! -e refuse-extend ]\n',
    "revoke": 'echo "revoke $LESSOR_RESOURCE_ID" >> told\n[ ! -e refuse-revoke ]\n',
}


def credential_pools(tmp_path: Path) -> Path:
    for name, body in HOOKS.items():
        hook = tmp_path / name
        hook.write_text("#!/bin/sh\n" + body)
        hook.chmod(0o755)
    return write_pools(tmp_path / "pools.yaml", POOLS)


def told(tmp_path: Path) -> list[str]:
    path = tmp_path / "told"
    return path.read_text().splitlines() if path.exists() else []


def zulu(api_time: str) -> str:
    """The API's expires_at as LESSOR_EXPIRES_AT says it (to the second, rounded up)."""
    at = datetime.fromisoformat(api_time)
    whole = int(at.timestamp()) + (at.microsecond > 0)
    return datetime.fromtimestamp(whole, at.tzinfo).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_credential_is_told_its_lease_end_and_each_renewal_of_it(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    server = start_server(credential_pools(tmp_path))
    opened = api(server, "POST", "/api/v1/tickets", json={"tags": ["token"], "ttl": 300}).json()
    tid, holder = opened["id"], {"Lessor-Ticket-Key": opened["key"]}
    server.lessor("ticket-wait", str(tid), check=True, LESSOR_TICKET_KEY=opened["key"])
    first = ticket(server, tid)["expires_at"]
    assert told(tmp_path) == [f"new {zulu(first)}"]

    renewed = api(
        server, "POST", f"/api/v1/tickets/{tid}/extend", json={"ttl": 900}, headers=holder
    )
    assert renewed.status_code == 200, renewed.text
    second = renewed.json()["expires_at"]
    wait_until(lambda: len(told(tmp_path)) == 2, message="cmd_extend")
    assert told(tmp_path)[1] == f"extend {zulu(second)}"

    # cmd_extend fails: the ticket ends when its credential does, and says why.
    (tmp_path / "refuse-extend").touch()
    assert api(server, "POST", f"/api/v1/tickets/{tid}/extend", json={"ttl": 3000}, headers=holder)
    wait_until(lambda: ticket(server, tid)["expires_at"] == second, message="lease cut back")
    (cut,) = events(server, ticket_id=tid, kind="credential.extend_failed")
    assert cut["message"] == (
        "cmd_extend exited with 1: the lease is cut back to the credential's own end"
    )
    assert ticket(server, tid)["state"] == "ASSIGNED"


def test_a_revocation_is_retried_until_it_succeeds_across_a_restart_and_then_recorded(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    pools = credential_pools(tmp_path)
    server = start_server(pools)
    opened = api(server, "POST", "/api/v1/tickets", json={"tags": ["token"]}).json()
    tid, key = opened["id"], opened["key"]
    server.lessor("ticket-wait", str(tid), check=True, LESSOR_TICKET_KEY=key)
    rid = ticket(server, tid)["resource_id"]
    (tmp_path / "refuse-revoke").touch()  # the credential service is down
    server.lessor("ticket-close", str(tid), check=True, LESSOR_TICKET_KEY=key)

    def failures() -> int:
        return len(events(server, resource_id=rid, kind="resource.delete_failed"))

    wait_until(lambda: failures() >= 2, message="cmd_delete retried")
    assert not events(server, resource_id=rid, kind="credential.revoked")
    server.stop()
    server = start_server(pools)  # the same database: the revocation is not forgotten
    wait_until(lambda: failures() >= 3, message="cmd_delete retried after the restart")
    assert resource(server, rid)["state"] in ("DELETE_REQUESTED", "DELETING")

    (tmp_path / "refuse-revoke").unlink()
    wait_until(lambda: resource(server, rid)["state"] == "ENDED", message="revocation")
    (revoked,) = events(server, resource_id=rid, kind="credential.revoked")
    last_failure = events(server, resource_id=rid, kind="resource.delete_failed")[-1]
    assert revoked["at"] >= last_failure["at"]
    assert revoked["message"] == "cmd_delete succeeded: the credential is revoked"


def test_a_credential_reaches_its_tickets_holder_only_never_an_admin_a_log_or_a_listing(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    server = start_server(credential_pools(tmp_path), LESSOR_SERVER_ADMIN_TOKEN="sesame")
    opened = api(server, "POST", "/api/v1/tickets", json={"tags": ["token"]}).json()
    tid, mine = opened["id"], {"Lessor-Ticket-Key": opened["key"]}
    waited = server.lessor("ticket-wait", str(tid), check=True, LESSOR_TICKET_KEY=opened["key"])
    secret = waited.stdout.strip()
    assert len(secret) == 32  # the minted token, to its holder
    assert api(server, "GET", f"/api/v1/tickets/{tid}", headers=mine).json()["data"] == secret
    rid = ticket(server, tid)["resource_id"]

    # A second caller: another ticket's key, an admin, nobody.
    other = api(server, "POST", "/api/v1/tickets", json={"tags": ["token"]}).json()["key"]
    theirs = {"Lessor-Ticket-Key": other}
    admin = {"Authorization": "Bearer sesame"}
    for headers in (theirs, admin, {}):
        for path in (
            f"/api/v1/tickets/{tid}",
            "/api/v1/tickets",
            "/api/v1/resources",
            f"/api/v1/resources/{rid}",
            "/api/v1/events?limit=1000",
            "/metrics",
            "/",
            "/ui/resources",
            f"/ui/resources/{rid}",
            f"/ui/resources/{rid}/logs/alloc",
            f"/ui/tickets/{tid}",
            "/ui/events",
        ):
            answer = api(server, "GET", path, headers=headers)
            assert secret not in answer.text, (path, headers)
    assert api(server, "GET", f"/api/v1/tickets/{tid}", headers=admin).json()["data"] is None
    checked = server.lessor("ticket-check", str(tid), LESSOR_TICKET_KEY=other)
    assert secret not in checked.stdout + checked.stderr

    server.lessor("ticket-close", str(tid), check=True, LESSOR_TICKET_KEY=opened["key"])
    wait_until(lambda: resource(server, rid)["state"] == "ENDED", message="revocation")
    assert api(server, "GET", f"/api/v1/tickets/{tid}", headers=mine).json()["data"] is None
    # Nor on disk, but in the database: hook logs, lessor's own files, the server's log.
    files = [p for p in tmp_path.rglob("*") if p.is_file() and "sqlite" not in p.name]
    assert any(p.name.endswith("_alloc") for p in files)  # cmd_new's log is among them
    for path in files:
        assert secret.encode() not in path.read_bytes(), path


def test_a_job_takes_a_vm_and_a_credential_for_it_in_one_grant(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    server = start_server(credential_pools(tmp_path))
    job = server.lessor("job", "--part", "host=vm", "--part", "db=token", check=True)
    jid = job.stdout.strip()
    granted = json.loads(server.lessor("job-wait", jid, "--timeout", "30", check=True).stdout)
    assert granted["host"].startswith("127.0.0.") and len(granted["db"].strip()) == 32
    server.lessor("job-close", jid, check=True)
    wait_until(lambda: "revoke" in " ".join(told(tmp_path)), message="the credential revoked")
