"""Only a ticket's holder or an admin ends it or sees its secret: a real server, two users.

Each "user" is the real CLI with its own state directory (where it keeps the
keys of the tickets it opened), as two accounts on two machines would be.
"""

from __future__ import annotations

import textwrap
import xmlrpc.client
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.conftest import ServerProcess
from tests.e2e.helpers import as_caller, with_admin_token

ADMIN = "admin-token-for-the-test"

POOLS = """\
secret:
  max: 2
  max_prealloc: 1
  secret_data: true
  tags: [secret]
  cmd_new: "echo password-$LESSOR_RESOURCE_ID"
  cmd_delete: "true"
"""


@pytest.fixture
def server(tmp_path: Path, start_server: Callable[..., ServerProcess]) -> ServerProcess:
    return with_admin_token(start_server, tmp_path, POOLS, ADMIN)


def test_a_second_caller_can_neither_close_nor_read_anothers_ticket(
    server: ServerProcess, tmp_path: Path
) -> None:
    alice, mallory = tmp_path / "alice", tmp_path / "mallory"
    code, out, err = as_caller(server, alice, "ticket", "--tag", "secret")
    assert code == 0, err
    tid = out.strip()
    code, out, err = as_caller(server, alice, "ticket-wait", tid)
    assert (code, err) == (0, "")
    assert out.startswith("password-")
    secret = out.strip()

    # Mallory, over the CLI: no key, refused with one line, the ticket untouched.
    for command in ("ticket-close", "ticket-extend"):
        extra = ("--ttl", "1") if command == "ticket-extend" else ()
        code, _, err = as_caller(server, mallory, command, tid, *extra)
        assert code == 4 and err.count("\n") == 1 and "Traceback" not in err
    code, out, _ = as_caller(server, mallory, "ticket-check", tid)
    assert secret not in out

    # Mallory, over HTTP: no key is 401, a key of her own ticket is 403; nothing leaks.
    with server.client() as http:
        theirs = http.post("/api/v1/tickets", json={"tags": ["secret"]}).json()["key"]
        assert http.post(f"/api/v1/tickets/{tid}/close").status_code == 401
        refused = http.post(f"/api/v1/tickets/{tid}/close", headers={"Lessor-Ticket-Key": theirs})
        assert refused.status_code == 403
        ttl = {"ttl": 0.001}
        assert http.post(f"/api/v1/tickets/{tid}/extend", json=ttl).status_code == 401
        for path in (f"/api/v1/tickets/{tid}", "/api/v1/tickets", "/api/v1/resources", "/"):
            assert secret not in http.get(path).text, path
        assert http.get(f"/api/v1/tickets/{tid}").json()["state"] == "ASSIGNED"

        # Over resalloc's protocol the data of a secret pool is withheld.
        rpc = xmlrpc.client.ServerProxy(server.url)
        answer = rpc.collectTicket(int(tid))
        assert answer["ready"] and secret not in str(answer)

        # The admin may close anyone's ticket; Alice's own key does too.
        admin = {"Authorization": f"Bearer {ADMIN}"}
        assert secret in http.get("/api/v1/resources", headers=admin).text
    code, _, err = as_caller(server, alice, "ticket-close", tid)
    assert code == 0, err
    with server.client() as http:
        assert http.get(f"/api/v1/tickets/{tid}").json()["state"] == "CLOSED"
        # Closed: not even its holder's key shows the data any more.
        assert secret not in http.get(f"/api/v1/tickets/{tid}").text


def test_resalloc_clients_are_refused_everything_when_the_server_turns_xmlrpc_off(
    tmp_path: Path, start_server: Callable[..., ServerProcess]
) -> None:
    pools = tmp_path / "pools.yaml"
    pools.write_text(POOLS)
    config = tmp_path / "server.yaml"
    config.write_text(textwrap.dedent("xmlrpc: false\n"))
    server = start_server(pools=pools, extra=("--config", str(config)))
    rpc = xmlrpc.client.ServerProxy(server.url)
    with pytest.raises(xmlrpc.client.Fault, match="xmlrpc: false"):
        rpc.takeTicket(["secret"])
    with server.client() as http:
        assert http.get("/api/v1/tickets").json() == []  # nothing was opened
