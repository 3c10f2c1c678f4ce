"""Rows X1-X16 and C1-C5 of docs/resalloc.md: resalloc's client protocol, as its client speaks it.

`resalloc.client` wraps `xmlrpc.client.ServerProxy(url)` and calls it with
positional arguments only; the `resalloc` CLI passes ticket ids on as the
strings it got from argv, and retries every fault for ever. One server per
database serves every test here; each test has pools or tags of its own.
The server's sleeptime is 60 s: nothing here may depend on a timed pass.
"""

from __future__ import annotations

import socket
import threading
import time
import xmlrpc.client
from typing import Any

import pytest
from tests.conformance.site import Site, SiteFactory, rest_open
from tests.conftest import wait_until

FAULT_PREFIX = "<class 'resallocserver.api.ServerAPIException'>:"

POOLS = r"""
ready:
  max: 4
  max_prealloc: 1
  tags: [ready, x86_64]
  cmd_new: printf 'vm-%s\n' $RESALLOC_ID
  cmd_delete: 'true'
gated:
  max: 2
  max_prealloc: 0
  start_for_waiting: true
  tags: [gated]
  cmd_new: while [ ! -e WORK/open-$RESALLOC_ID ]; do sleep 0.05; done; echo gated-$RESALLOC_ID
  cmd_delete: 'true'
binary:
  max: 1
  max_prealloc: 1
  tags: [binary]
  cmd_new: printf 'caf\303\251 \377\n'
  cmd_delete: 'true'
"""


@pytest.fixture(scope="module")
def site(sites: SiteFactory, site_db: str) -> Site:
    s = sites(site_db, POOLS, server_yaml="sleeptime: 60\n")
    s.wait_for("ready", "UP")
    return s


class Waiter(xmlrpc.client.Transport):
    """resalloc's client transport, with a socket timeout: to see that a call still blocks."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout

    def make_connection(self, host: Any) -> Any:
        conn = super().make_connection(host)
        conn.timeout = self.timeout
        return conn


def collected(ready: Any, output: Any, closed: Any, failed: Any) -> dict[str, Any]:
    return {"ready": ready, "output": output, "closed": closed, "failed": failed}


def cli(site: Site, *args: str) -> tuple[int, str, str]:
    """lessor's CLI in resalloc's spelling (`--connection URL` before the command)."""
    done = site.lessor("--connection", site.url, *args)
    return done.returncode, done.stdout, done.stderr


def gated_resource(site: Site) -> int:
    """The id of the gated pool's resource whose cmd_new waits at its gate."""
    (starting, *_) = site.wait_for("gated", "STARTING")
    return int(starting["id"])


def test_x1_take_ticket_answers_the_new_tickets_int_id(site: Site) -> None:
    conn = site.rpc()
    first = conn.takeTicket(["ready", "x86_64"])
    second = conn.takeTicket(["ready"], "my-sandbox")
    assert type(first) is int and type(second) is int and second > first
    assert conn.waitTicket(str(second)).data.startswith(b"vm-")
    for tid in (first, second):
        conn.closeTicket(str(tid))


def test_x3_tags_no_pool_provides_make_a_ticket_that_waits_and_says_why(site: Site) -> None:
    conn = site.rpc()
    tid = conn.takeTicket(["C"])
    assert type(tid) is int
    assert conn.collectTicket(str(tid)) == collected(False, None, False, False)
    # a later ticket gets its resource started: passes have planned since ours was opened
    later = conn.takeTicket(["gated"])
    site.open_gate(f"open-{gated_resource(site)}")
    assert conn.waitTicket(str(later)).data.startswith(b"gated-")
    assert conn.collectTicket(str(tid)) == collected(False, None, False, False)
    assert site.ticket(tid)["waiting_reason"] == "no pool provides tag 'C'"
    code, out, err = cli(site, "ticket-check", str(tid))
    assert (code, out) == (1, "")
    assert err.splitlines() == [
        "ticket is still not processed",
        "waiting: no pool provides tag 'C'",
    ]
    conn.closeTicket(str(later))
    conn.closeTicket(str(tid))


def test_c1_lessors_own_api_and_cli_still_refuse_tags_no_pool_provides(site: Site) -> None:
    refused = rest_open(site, ["C"])
    assert refused.status_code == 422 and "'C'" in refused.text
    code, out, err = cli(site, "ticket", "--tag", "C")
    assert (code, out) == (4, "") and "no pool provides tag 'C'" in err


def test_x4_tags_are_taken_as_sent_and_no_tags_fit_any_resource(site: Site) -> None:
    conn = site.rpc()
    spaced = conn.takeTicket([" ready"])  # not "ready": resalloc stores what it got
    assert site.ticket(spaced)["tags"] == [" ready"]
    assert site.ticket(spaced)["waiting_reason"] == "no pool provides tag ' ready'"
    anything = conn.takeTicket([])
    assert conn.waitTicket(str(anything)).data  # the data of some ready resource
    assert conn.collectTicket(str(anything))["ready"] is True
    # waived: a tag sent twice counts once (resalloc fails with an IntegrityError), and
    # tags must be strings (resalloc stores str() of them)
    twice = conn.takeTicket(["ready", "ready"])
    assert conn.waitTicket(str(twice)).data.startswith(b"vm-")
    assert site.ticket(twice)["tags"] == ["ready"]
    with pytest.raises(xmlrpc.client.Fault) as not_strings:
        conn.takeTicket([1])
    assert not_strings.value.faultCode == 1
    for tid in (spaced, anything, twice):
        conn.closeTicket(str(tid))


def test_x5_an_empty_sandbox_is_no_sandbox(site: Site) -> None:
    conn = site.rpc()
    tid = conn.takeTicket(["ready"], "")
    assert conn.waitTicket(str(tid)).data.startswith(b"vm-")
    assert site.ticket(tid)["sandbox"] is None
    conn.closeTicket(str(tid))


def test_x6_wait_ticket_on_a_ticket_closed_without_a_resource_blocks(site: Site) -> None:
    conn = site.rpc()
    tid = conn.takeTicket(["no-such-tag"])
    assert conn.closeTicket(str(tid)) is None
    blocked = xmlrpc.client.ServerProxy(site.url, transport=Waiter(timeout=1.5))
    started = time.monotonic()
    with pytest.raises(socket.timeout):  # still waiting, as resalloc's does: no fault
        blocked.waitTicket(str(tid))
    assert time.monotonic() - started >= 1.4
    assert conn.collectTicket(str(tid)) == collected(False, None, True, False)


def test_x7_wait_ticket_of_an_unknown_id_is_a_fault(site: Site) -> None:
    with pytest.raises(xmlrpc.client.Fault) as unknown:
        site.rpc().waitTicket("4242")
    assert unknown.value.faultCode == 1 and "no such ticket 4242" in unknown.value.faultString


def test_x8_a_closed_ticket_still_yields_its_resources_data(site: Site) -> None:
    conn = site.rpc()
    tid = conn.takeTicket(["ready", "x86_64"])
    output = conn.waitTicket(str(tid))
    assert conn.closeTicket(str(tid)) is None
    assert conn.waitTicket(str(tid)) == output
    assert conn.waitTicket(tid) == output


def test_x9_wait_ticket_is_answered_the_moment_a_resource_is_assigned(site: Site) -> None:
    conn = site.rpc()
    tid = conn.takeTicket(["gated"])
    answered: dict[str, Any] = {}

    def wait() -> None:
        answered["data"] = site.rpc().waitTicket(str(tid))
        answered["at"] = time.monotonic()

    waiter = threading.Thread(target=wait)
    waiter.start()
    gate = gated_resource(site)
    assert "data" not in answered and conn.collectTicket(str(tid))["ready"] is False
    opened = time.monotonic()
    site.open_gate(f"open-{gate}")  # cmd_new finishes; no timed pass comes within 60 s
    waiter.join(10)
    assert answered["data"].data == f"gated-{gate}\n".encode()
    assert answered["at"] - opened < 1.5
    conn.closeTicket(str(tid))


def test_x10_collect_ticket_answers_resallocs_four_keys_in_every_state(site: Site) -> None:
    conn = site.rpc()
    assert conn.collectTicket("4242") == collected(None, None, None, None)
    waiting = conn.takeTicket(["gated"])
    assert conn.collectTicket(str(waiting)) == collected(False, None, False, False)
    gate = gated_resource(site)
    site.open_gate(f"open-{gate}")
    data = conn.waitTicket(str(waiting))
    assert conn.collectTicket(str(waiting)) == collected(True, data, False, False)
    conn.closeTicket(str(waiting))
    assert conn.collectTicket(str(waiting)) == collected(True, data, True, False)

    held = conn.takeTicket(["ready"])
    data = conn.waitTicket(str(held))
    rid = site.ticket(held)["resource_id"]
    assert site.maint("resource-delete", str(rid)).returncode == 0
    assert conn.collectTicket(str(held)) == collected(True, data, False, True)
    assert conn.waitTicket(str(held)) == data  # a failed ticket still yields its data
    conn.closeTicket(str(held))


def test_x11_ids_come_as_ints_or_numeric_strings_anything_else_is_a_fault(site: Site) -> None:
    conn = site.rpc()
    tid = conn.takeTicket(["ready"])
    assert conn.collectTicket(str(tid)) == conn.collectTicket(tid)
    assert conn.collectTicket(str(tid))["ready"] is True
    with pytest.raises(xmlrpc.client.Fault) as junk:
        conn.collectTicket("abc")  # as resalloc on PostgreSQL (a DataError)
    assert junk.value.faultCode == 1 and "abc" in junk.value.faultString
    conn.closeTicket(tid)


def test_x12_close_ticket_in_any_state_and_twice(site: Site) -> None:
    conn = site.rpc()
    waiting = conn.takeTicket(["no-pool-at-all"])
    assert conn.closeTicket(str(waiting)) is None
    assert conn.closeTicket(str(waiting)) is None  # twice: a no-op, as resalloc's
    held = conn.takeTicket(["ready"])
    data = conn.waitTicket(str(held))
    site.maint("resource-delete", str(site.ticket(held)["resource_id"]))
    assert conn.collectTicket(str(held))["failed"] is True
    assert conn.closeTicket(str(held)) is None  # a failed ticket can be closed
    assert conn.collectTicket(str(held)) == collected(True, data, True, False)


def test_x13_a_close_of_an_unknown_ticket_faults_as_resallocs_server_api_exception(
    site: Site,
) -> None:
    with pytest.raises(xmlrpc.client.Fault) as unknown:
        site.rpc().closeTicket("4242")
    assert unknown.value.faultCode == 1
    assert unknown.value.faultString == f"{FAULT_PREFIX}no such ticket 4242"


def test_x14_both_paths_and_introspection(site: Site) -> None:
    for path in ("", "/RPC2"):
        conn = site.rpc(path)
        methods = conn.system.listMethods()
        assert {"takeTicket", "collectTicket", "waitTicket", "closeTicket"} <= set(methods)
        assert {"system.listMethods", "system.methodHelp"} <= set(methods)
        assert conn.system.methodSignature("takeTicket") == "signatures not supported"
        assert "ticket" in conn.system.methodHelp("takeTicket")


def test_x15_unknown_methods_bad_arity_and_malformed_bodies_are_faults(site: Site) -> None:
    conn = site.rpc()
    with pytest.raises(xmlrpc.client.Fault) as no_method:
        conn.deleteEverything()
    assert no_method.value.faultCode == 1
    assert no_method.value.faultString == 'method "deleteEverything" is not supported'
    with pytest.raises(xmlrpc.client.Fault) as arity:
        conn.closeTicket()
    assert arity.value.faultCode == 1 and "closeTicket" in arity.value.faultString
    with site.server.client() as c:
        garbage = c.post(
            "/RPC2", content=b"<methodCall><oops", headers={"Content-Type": "text/xml"}
        )
    assert garbage.status_code == 200  # XML-RPC reports errors as faults
    with pytest.raises(xmlrpc.client.Fault):
        xmlrpc.client.loads(garbage.content)


def test_x16_data_travels_as_base64_byte_for_byte(site: Site) -> None:
    conn = site.rpc()
    tid = conn.takeTicket(["binary"])
    output = conn.waitTicket(str(tid))
    assert isinstance(output, xmlrpc.client.Binary)
    assert output.data == b"caf\xc3\xa9 \xff\n"
    assert str(output) == output.data.decode("latin-1")  # what resalloc's client prints
    conn.closeTicket(str(tid))


def test_c2_ticket_check_says_what_resallocs_says_line_for_line(site: Site) -> None:
    code, out, err = cli(site, "ticket-check", "999")
    assert (code, out) == (1, "")
    assert err.splitlines() == ["WARNING: non-existing ticket", "ticket is still not processed"]

    conn = site.rpc()
    never = conn.takeTicket(["gated"])
    conn.closeTicket(str(never))
    code, out, err = cli(site, "ticket-check", str(never))
    assert (code, out) == (1, "")
    assert err.splitlines()[:2] == [
        "WARNING: already closed ticket",
        "ticket is still not processed",
    ]

    held = conn.takeTicket(["ready"])
    data = conn.waitTicket(str(held)).data.decode()
    assert cli(site, "ticket-check", str(held)) == (0, data, "")
    site.maint("resource-delete", str(site.ticket(held)["resource_id"]))
    code, out, err = cli(site, "ticket-check", str(held))
    assert (code, out) == (1, data)
    assert err.splitlines()[0] == "WARNING: assigned resource failed"
    conn.closeTicket(str(held))
    code, out, err = cli(site, "ticket-check", str(held))
    assert (code, out) == (1, data) and err.splitlines() == ["WARNING: already closed ticket"]


def test_c4_c5_ticket_wait_prints_the_data_and_ticket_close_nothing(site: Site) -> None:
    code, out, _ = cli(site, "ticket", "--tag", "ready", "--tag", "x86_64", "--sandbox", "sb")
    tid = out.strip()
    assert code == 0 and tid.isdigit()
    code, data, _ = cli(site, "ticket-wait", tid)
    assert code == 0 and data == site.rpc().waitTicket(tid).data.decode()
    assert cli(site, "ticket-close", tid) == (0, "", "")
    wait_until(lambda: site.rpc().collectTicket(tid)["closed"], message="the close")
