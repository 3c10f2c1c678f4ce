"""resalloc's client protocol, spoken exactly as resalloc's client speaks it.

`resalloc.client` wraps `xmlrpc.client.ServerProxy(connection_string)` and
calls it with positional arguments only; its CLI passes ticket ids on as the
strings it got from argv. These tests do the same against a real server.
"""

from __future__ import annotations

import threading
import time
import xmlrpc.client
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.conftest import ServerProcess, wait_until


def pools(tmp_path: Path) -> Path:
    gate = tmp_path / "gate"
    path = tmp_path / "pools.yaml"
    path.write_text(
        # `ready` keeps one spare; `gated` makes resources only when the test opens the gate.
        "ready:\n  max: 3\n  max_prealloc: 1\n  tags: [ready, x86_64]\n"
        "  cmd_new: printf 'vm-%s\\n' $RESALLOC_ID\n"
        "gated:\n  max: 1\n  max_prealloc: 0\n  start_for_waiting: true\n  tags: [gated]\n"
        f"  cmd_new: while [ ! -e {gate} ]; do sleep 0.05; done; echo gated-$RESALLOC_ID\n"
    )
    return path


@pytest.fixture
def server(start_server: Callable[..., ServerProcess], tmp_path: Path) -> ServerProcess:
    # A long sleeptime: nothing below may rely on a timed pass to happen.
    return start_server(pools(tmp_path), extra=("--sleeptime", "60"))


def rpc(server: ServerProcess, path: str = "") -> xmlrpc.client.ServerProxy:
    return xmlrpc.client.ServerProxy(server.url + path)


def test_the_resalloc_client_cycle_with_binary_data_and_string_ids(server: ServerProcess) -> None:
    conn = rpc(server)
    ticket_id = conn.takeTicket(["ready", "x86_64"])
    assert isinstance(ticket_id, int) and ticket_id == 1

    output = conn.waitTicket(str(ticket_id))
    assert isinstance(output, xmlrpc.client.Binary)  # <base64>, which the client str()s
    assert str(output).startswith("vm-") and output.data.endswith(b"\n")

    collected = conn.collectTicket(str(ticket_id))
    assert collected == {"ready": True, "output": output, "closed": False, "failed": False}

    assert conn.closeTicket(str(ticket_id)) is None  # <nil/>
    closed = conn.collectTicket(ticket_id)
    # a closed ticket still gives its resource's data back
    assert closed == {"ready": True, "output": output, "closed": True, "failed": False}
    assert conn.waitTicket(ticket_id) == output


def test_rpc2_path_sandbox_argument_and_introspection(server: ServerProcess) -> None:
    conn = rpc(server, "/RPC2")
    methods = conn.system.listMethods()
    assert {"takeTicket", "collectTicket", "waitTicket", "closeTicket"} <= set(methods)
    assert "system.listMethods" in methods
    ticket_id = conn.takeTicket(["ready"], "my-sandbox")
    assert str(conn.waitTicket(ticket_id)).startswith("vm-")


def test_unknown_tickets_and_bad_requests(server: ServerProcess) -> None:
    conn = rpc(server)
    assert conn.collectTicket("4242") == {
        "ready": None,
        "output": None,
        "closed": None,
        "failed": None,
    }
    with pytest.raises(xmlrpc.client.Fault) as unknown:
        conn.closeTicket(4242)
    assert unknown.value.faultCode == 1 and "4242" in unknown.value.faultString
    with pytest.raises(xmlrpc.client.Fault) as no_pool:
        conn.takeTicket(["sparc"])
    assert "sparc" in no_pool.value.faultString
    with pytest.raises(xmlrpc.client.Fault) as bad_id:
        conn.collectTicket("abc")
    assert "abc" in bad_id.value.faultString
    with pytest.raises(xmlrpc.client.Fault) as no_method:
        conn.deleteEverything()
    assert no_method.value.faultCode == 1
    with pytest.raises(xmlrpc.client.Fault) as arity:
        conn.closeTicket()
    assert "closeTicket" in arity.value.faultString
    with server.client() as c:
        garbage = c.post(
            "/RPC2", content=b"<methodCall><oops", headers={"Content-Type": "text/xml"}
        )
    assert garbage.status_code == 200  # XML-RPC reports errors as faults
    with pytest.raises(xmlrpc.client.Fault):
        xmlrpc.client.loads(garbage.content)


def test_wait_ticket_is_answered_the_moment_a_resource_is_assigned(
    server: ServerProcess, tmp_path: Path
) -> None:
    conn = rpc(server)
    ticket_id = conn.takeTicket(["gated"])
    answered: dict[str, object] = {}

    def wait() -> None:
        answered["data"] = rpc(server).waitTicket(str(ticket_id))
        answered["at"] = time.monotonic()

    waiter = threading.Thread(target=wait)
    waiter.start()

    def starting() -> bool:
        with server.client() as c:
            listed = c.get("/api/v1/resources", params={"pool": "gated"}).json()
        return any(r["state"] == "STARTING" for r in listed)

    wait_until(starting, message="cmd_new to wait at the gate")
    assert "data" not in answered and conn.collectTicket(ticket_id)["ready"] is False

    opened = time.monotonic()
    (tmp_path / "gate").touch()  # cmd_new finishes; no timed pass comes within 60 s
    waiter.join(10)
    assert str(answered["data"]).startswith("gated-")
    assert isinstance(answered["at"], float) and answered["at"] - opened < 1.5
    assert conn.collectTicket(ticket_id)["output"] == answered["data"]


def test_the_resalloc_cli_spelling_and_its_exit_codes(server: ServerProcess) -> None:
    def lessor(*args: str) -> tuple[int, str, str]:
        done = server.lessor("--connection", server.url, *args)
        return done.returncode, done.stdout, done.stderr

    code, out, _ = lessor("ticket", "--tag", "ready", "--tag", "x86_64", "--sandbox", "sb")
    ticket_id = out.strip()
    assert code == 0 and ticket_id.isdigit()
    code, data, _ = lessor("ticket-wait", ticket_id)
    assert code == 0 and data.startswith("vm-") and data.endswith("\n")
    assert lessor("ticket-check", ticket_id) == (0, data, "")

    code, out, err = lessor("ticket-check", "999")
    assert (code, out) == (1, "")
    assert err.splitlines() == ["WARNING: non-existing ticket", "ticket is still not processed"]

    gated = lessor("ticket", "--tag", "gated")[1].strip()
    code, out, err = lessor("ticket-check", gated)
    assert (code, out) == (1, "") and "not processed" in err

    assert lessor("ticket-close", ticket_id)[0] == 0
    code, out, err = lessor("ticket-check", ticket_id)
    assert (code, out) == (1, data) and "already closed" in err
