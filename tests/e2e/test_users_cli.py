"""Users through the real CLI and server: `lessor user add` prints a token once; the owner
acts on its tickets from anywhere with it; a second user is refused; a quota makes a ticket
wait, saying why; the token is nowhere but with its user."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from tests.conftest import ServerProcess
from tests.e2e.helpers import as_caller, with_admin_token

ADMIN = "admin-token-for-the-users-test"

POOLS = """\
p:
  max: 3
  max_prealloc: 3
  tags: [x]
  cmd_new: "echo vm-$LESSOR_RESOURCE_ID"
  cmd_delete: "true"
lab:
  max: 1
  max_prealloc: 1
  privilege: lab
  tags: [board]
  cmd_new: "echo board-$LESSOR_RESOURCE_ID"
  cmd_delete: "true"
"""


@pytest.fixture
def server(tmp_path: Path, start_server: Callable[..., ServerProcess]) -> ServerProcess:
    return with_admin_token(start_server, tmp_path, POOLS, ADMIN)


def test_owners_quotas_privileges_and_a_second_user(server: ServerProcess, tmp_path: Path) -> None:
    admin = {"LESSOR_ADMIN_TOKEN": ADMIN}
    code, out, err = as_caller(
        server, tmp_path / "admin", "user", "add", "alice", "--quota", "p=1", **admin
    )
    assert code == 0, err
    alice = out.strip()
    code, out, err = as_caller(
        server, tmp_path / "admin", "user", "add", "bob", "--privilege", "lab", **admin
    )
    assert code == 0, err
    bob = out.strip()
    assert len(alice) > 40 and alice != bob
    code, _, err = as_caller(server, tmp_path / "x", "user", "add", "eve")  # no admin token
    assert code == 4 and err.count("\n") == 1
    code, _, err = as_caller(server, tmp_path / "x", "user", "add", "eve", LESSOR_TOKEN=alice)
    assert code == 4 and "no admin" in err

    code, out, err = as_caller(server, tmp_path / "a1", "ticket", "--tag", "x", LESSOR_TOKEN=alice)
    assert code == 0, err
    first = out.strip()
    assert as_caller(server, tmp_path / "a1", "ticket-wait", first, LESSOR_TOKEN=alice)[0] == 0
    code, out, _ = as_caller(server, tmp_path / "a1", "ticket", "--tag", "x", LESSOR_TOKEN=alice)
    second = out.strip()
    code, _, err = as_caller(server, tmp_path / "a1", "ticket-check", second, LESSOR_TOKEN=alice)
    assert code == 1 and "quota: 1/1 resources held in pool p" in err

    # bob, with his own token and no key, is refused; alice from another machine (no kept
    # key, her token only) closes her ticket
    code, _, err = as_caller(server, tmp_path / "b", "ticket-close", first, LESSOR_TOKEN=bob)
    assert code == 4 and "Traceback" not in err
    assert as_caller(server, tmp_path / "a2", "ticket-close", first, LESSOR_TOKEN=alice)[0] == 0
    code, out, err = as_caller(
        server, tmp_path / "a1", "ticket-wait", second, "--timeout", "30", LESSOR_TOKEN=alice
    )
    assert code == 0 and out.startswith("vm-"), err

    # the lab pool: bob has the privilege, alice does not (403 at once, naming it)
    code, _, err = as_caller(
        server, tmp_path / "a1", "ticket", "--tag", "board", LESSOR_TOKEN=alice
    )
    assert code == 4 and "privilege lab needed" in err
    code, out, err = as_caller(server, tmp_path / "b", "ticket", "--tag", "board", LESSOR_TOKEN=bob)
    assert code == 0, err
    code, out, err = as_caller(
        server, tmp_path / "b", "ticket-wait", out.strip(), "--timeout", "30", LESSOR_TOKEN=bob
    )
    assert code == 0 and out.startswith("board-"), err

    # the tokens are only with their users: not in the log, the events, a listing
    code, out, _ = as_caller(server, tmp_path / "admin", "user", "list", **admin)
    assert code == 0 and "alice" in out and alice not in out
    with server.client() as http:
        seen = http.get("/api/v1/events", params={"limit": 1000}).text
        seen += http.get("/api/v1/tickets").text + http.get("/").text
    seen += server.log.read_text()
    assert alice not in seen and bob not in seen
