"""The CLI a person reads, against a real server: tables, show commands, filters, messages."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.conftest import ServerProcess, wait_until
from tests.e2e.helpers import TOKEN, api, ticket, up, write_pools

POOLS = """\
fake_x86:
  max: 2
  max_prealloc: 2
  tags: [fake, x86_64]
  cmd_new: FAKE_CLOUD new
  cmd_delete: FAKE_CLOUD delete
fake_arm:
  max: 1
  max_prealloc: 0
  tags: [fake, aarch64]
  cmd_new: sleep 60
  cmd_delete: FAKE_CLOUD delete
"""


def in_a_terminal(server: ServerProcess, *args: str, columns: int = 80) -> str:
    """What the CLI shows in a terminal `columns` wide (stdout is a pty)."""
    leader, follower = pty.openpty()
    with subprocess.Popen(
        [sys.executable, "-m", "lessor.cli", *args],
        env={**server.env, "LESSOR_SERVER": server.url, "COLUMNS": str(columns)},
        stdout=follower,
        stderr=subprocess.DEVNULL,
    ) as proc:
        os.close(follower)
        out = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the other end is closed: the command is done
                break
            if not chunk:
                break
            out += chunk
        proc.wait(30)
    os.close(leader)
    return out.decode().replace("\r\n", "\n")


def test_listings_read_whole_at_80_columns_and_in_a_pipe(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    server = start_server(write_pools(tmp_path / "pools.yaml", POOLS))
    spares = wait_until(lambda: len(up(server, "fake_x86")) == 2 and up(server, "fake_x86"))
    assert isinstance(spares, list)
    names = [r["name"] for r in spares]
    waiting = server.lessor("ticket", "--tag", "aarch64", check=True).stdout.strip()
    wait_until(lambda: ticket(server, waiting)["waiting_reason"], message="a reason")

    piped = server.lessor("resources", check=True).stdout
    for name, r in zip(names, spares, strict=True):
        (line,) = [line for line in piped.splitlines() if name in line]
        assert line.split()[:5] == [str(r["id"]), name, "UP", "-", r["data"].strip()]
    assert "…" not in piped

    shown = in_a_terminal(server, "resources")
    assert all(len(line) <= 80 for line in shown.splitlines()), shown
    assert all(name in shown for name in names) and "…" not in shown

    def reason_in_whole_words() -> bool:  # (the reason changes as the server works)
        shown = in_a_terminal(server, "tickets")
        assert all(len(line) <= 80 for line in shown.splitlines()), shown
        words = " ".join(ticket(server, waiting)["waiting_reason"].split())
        return f"waiting: {words}" in " ".join(shown.split())

    wait_until(reason_in_whole_words, message="the reason, wrapped at words")
    rows = server.lessor("tickets", check=True).stdout.splitlines()
    assert len(rows) == 2 and "waiting: pool fake_arm: " in rows[1]

    pools = server.lessor("pools", check=True).stdout
    assert "fake_x86  active" in pools and "2 UP" in pools


def test_empty_listings_say_so_instead_of_drawing_an_empty_frame(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    server = start_server(write_pools(tmp_path / "pools.yaml", POOLS))
    none = server.lessor("tickets", check=True)
    assert (none.stdout, none.stderr) == ("", "no open tickets\n")
    closed = server.lessor("tickets", "--state", "Closed", check=True)
    assert closed.stderr == "no closed tickets\n"
    starting = server.lessor("resources", "--pool", "fake_arm", "--state", "up", check=True)
    assert (starting.stdout, starting.stderr) == ("", "no UP resources in pool fake_arm\n")


def test_states_are_checked_by_the_cli_in_any_case(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    server = start_server(write_pools(tmp_path / "pools.yaml", POOLS))
    wait_until(lambda: len(up(server, "fake_x86")) == 2, message="spares")
    tid = server.lessor("ticket", "--tag", "x86_64", check=True).stdout.strip()
    server.lessor("ticket-close", tid, check=True)

    listed = json.loads(server.lessor("tickets", "--state", "closed", "--json", check=True).stdout)
    assert [t["id"] for t in listed] == [int(tid)]
    wrong = server.lessor("tickets", "--state", "shut")
    assert wrong.returncode == 2 and "'shut' is not one of" in wrong.stderr
    assert "--state" in wrong.stderr and "Traceback" not in wrong.stderr

    only_up = json.loads(
        server.lessor(
            "resources", "--pool", "fake_x86", "--state", "UP", "--json", check=True
        ).stdout
    )
    assert {(r["pool"], r["state"]) for r in only_up} == {("fake_x86", "UP")}
    assert server.lessor("resources", "--state", "gone").returncode == 2


def test_ticket_show_and_resource_show_give_every_field(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    server = start_server(write_pools(tmp_path / "pools.yaml", POOLS))
    tid = server.lessor("ticket", "--tag", "x86_64", "--ttl", "600", check=True).stdout.strip()
    data = server.lessor("ticket-wait", tid, check=True).stdout
    t = ticket(server, tid)

    shown = server.lessor("ticket-show", tid, check=True).stdout
    fields = dict(line.split(None, 1) for line in shown.splitlines())
    assert fields["ticket"] == tid and fields["state"] == "ASSIGNED"
    assert fields["data"] == data.rstrip("\n")  # without cmd_new's newline
    assert fields["resource"] == str(t["resource_id"])
    assert fields["tags"] == "x86_64" and fields["lease"].startswith("600s, ends ")
    assert json.loads(server.lessor("ticket-show", tid, "--json", check=True).stdout) == t

    rid = str(t["resource_id"])
    shown = server.lessor("resource-show", rid, check=True).stdout
    fields = dict(line.split("  ", 1) for line in shown.splitlines())
    assert fields["name"].strip().startswith("fake_x86_")
    assert fields["ticket"].strip() == tid and fields["state"].strip().startswith("TAKEN since ")
    resource = api(server, "GET", f"/api/v1/resources/{rid}").json()
    assert json.loads(server.lessor("resource-show", rid, "--json", check=True).stdout) == resource
    missing = server.lessor("ticket-show", "999")
    assert missing.returncode == 4 and missing.stderr.count("\n") == 1


def test_a_server_given_as_host_and_port_is_http_and_garbage_is_a_usage_error(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    server = start_server(write_pools(tmp_path / "pools.yaml", POOLS))
    bare = server.url.removeprefix("http://")
    assert "fake_x86" in server.lessor("--server", bare, "pools", check=True).stdout
    assert "fake_x86" in server.lessor("pools", LESSOR_SERVER=bare, check=True).stdout
    garbage = server.lessor("--server", "http//nowhere:port", "pools")
    assert garbage.returncode == 2 and "not a server address" in garbage.stderr


def test_admin_refusals_say_which_of_token_and_server_is_wrong(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    pools = write_pools(tmp_path / "pools.yaml", POOLS)
    server = start_server(pools, LESSOR_SERVER_ADMIN_TOKEN=TOKEN)
    wrong = server.lessor("reload", LESSOR_ADMIN_TOKEN="not-it")
    assert wrong.returncode == 4 and wrong.stderr.count("\n") == 1
    assert "token not accepted" in wrong.stderr
    without = server.lessor("reload")
    assert without.returncode == 4 and "needs the admin token" in without.stderr
    done = server.lessor("reload", LESSOR_ADMIN_TOKEN=TOKEN, check=True)
    assert done.stdout == "2 pools\n"
    write_pools(pools, POOLS.split("fake_arm:", maxsplit=1)[0])
    done = server.lessor("reload", LESSOR_ADMIN_TOKEN=TOKEN, check=True)
    assert done.stdout == "1 pool; removed: fake_arm\n"

    server.stop()  # the same data directory: one server at a time
    open_server = start_server(pools)
    refused = open_server.lessor("reload", LESSOR_ADMIN_TOKEN=TOKEN)
    assert refused.returncode == 4 and refused.stderr.count("\n") == 1
    assert "no admin token configured on the server" in refused.stderr


def test_ticket_wait_timeout_exits_1_as_documented(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    server = start_server(write_pools(tmp_path / "pools.yaml", POOLS))
    tid = server.lessor("ticket", "--tag", "aarch64", check=True).stdout.strip()
    done = server.lessor("ticket-wait", tid, "--timeout", "0.5")
    assert done.returncode == 1 and f"ticket {tid} still waiting after 0.5s" in done.stderr
    assert "ticket-wait --timeout" in server.lessor("--help", check=True).stdout
