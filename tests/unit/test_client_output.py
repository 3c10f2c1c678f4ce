"""How the client CLI reads: tables at 80 columns and in a pipe, addresses, plurals, help."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import click
import pytest

from lessor.cli import main
from lessor.client.http import BadServerAddress, normalized_server
from lessor.client.models import PoolOut, TicketOut, to_json
from lessor.client.output import age, one_line, plural, table, when

NAME = "fake_x86_00000001_20261202_055542"
REASON = "pool fake_arm: 2/2 at max; pool fake_big: starting 1 for you (cmd_new 12s ago)"


def test_a_table_never_cuts_a_name_and_wraps_only_the_last_column_at_words() -> None:
    header = ("ID", "NAME", "STATE", "TICKET", "DATA", "NOTE")
    rows = [("1", NAME, "UP", "", "127.0.0.2", ""), ("12", NAME, "TAKEN", "7", "10.0.0.1", REASON)]
    lines = table(header, rows, width=80)
    assert all(len(line) <= 80 for line in lines)
    assert sum(NAME in line for line in lines) == 2  # whole, on both rows
    assert lines[1].split() == ["1", NAME, "UP", "-", "127.0.0.2", "-"]  # empty cells are "-"
    # no room beside the row: the reason goes below it, in whole words
    below = [line.strip() for line in lines[3:]]
    assert " ".join(below) == REASON and all(line.startswith("    ") for line in lines[3:])


def test_in_a_pipe_each_row_is_one_whole_line() -> None:
    lines = table(("ID", "STATE", "NOTE"), [("3", "OPEN", REASON)], width=None)
    assert lines == ["ID  STATE  NOTE", f"3   OPEN   {REASON}"]


def test_the_last_column_wraps_beside_its_row_when_there_is_room() -> None:
    lines = table(("ID", "STATE", "NOTE"), [("3", "OPEN", REASON)], width=50)
    assert lines[1].startswith("3   OPEN   pool fake_arm")
    assert all(len(line) <= 50 and line[:11].strip() == "" for line in lines[2:])
    assert " ".join(line[11:] for line in lines[1:]) == REASON


def test_data_loses_cmd_new_s_trailing_newline_and_plurals_agree() -> None:
    assert one_line("127.0.0.2\n") == "127.0.0.2"
    assert one_line("a\nb\n") == "a\\nb"
    assert one_line(None) == ""
    assert [plural(n, "pool") for n in (0, 1, 2)] == ["0 pools", "1 pool", "2 pools"]
    assert [age(s) for s in (5, 119, 120, 7200, 50 * 3600)] == ["5s", "119s", "2m", "2h", "2d"]
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert when(now - timedelta(minutes=3), now).endswith("(3m ago)")
    assert when(now + timedelta(seconds=30), now).endswith("(in 30s)")


@pytest.mark.parametrize(
    ("given", "meant"),
    [
        ("localhost:49100", "http://localhost:49100"),
        ("lessor.example.com", "http://lessor.example.com:49100"),
        ("[::1]:8080", "http://[::1]:8080"),
        ("https://lessor.example.com/", "https://lessor.example.com"),
        ("http://proxy/lessor/", "http://proxy/lessor"),
    ],
)
def test_a_server_without_a_scheme_is_http(given: str, meant: str) -> None:
    assert normalized_server(given) == meant


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "foo bar",
        "ftp://x",
        "localhost:99x",
        "host:99999",
        "http://",
        "http://u:p@h",
        "h?x",
        "http//h:1",
    ],
)
def test_a_garbage_server_address_is_refused_naming_it(garbage: str) -> None:
    with pytest.raises(BadServerAddress, match="not a server address"):
        normalized_server(garbage)


def test_answers_give_back_the_server_s_json_exactly() -> None:
    ticket = {
        "id": 3,
        "state": "ASSIGNED",
        "tags": ["a"],
        "sandbox": None,
        "priority": 0,
        "resource_id": 1,
        "data": "x\n",
        "data_b64": "eAo=",
        "message": "",
        "created_at": "2026-12-02T05:55:45.961838Z",
        "assigned_at": "2026-12-02T05:55:46Z",
        "closed_at": None,
        "ttl": None,
        "expires_at": None,
        "waiting_reason": None,
    }
    t = TicketOut.from_json(ticket)
    assert t.created_at.tzinfo is not None and t.key is None and not t.ended
    assert to_json(t) == ticket  # no `key`: the server sends it in one answer only
    assert to_json(TicketOut.from_json({**ticket, "key": "k"}))["key"] == "k"
    pool = {
        "name": "p",
        "description": "",
        "tags": [{"name": "a", "priority": 10}],
        "max": 1,
        "max_starting": 1,
        "max_prealloc": 0,
        "counts": {"UP": 1},
        "tags_on_demand": [],
        "priority": 0,
        "drained": False,
        "drain_reason": "",
        "removed": False,
        "failing": True,
        "start_failures": 2,
        "last_failure": "cmd_new exited with 1",
        "start_for_waiting": False,
        "spares": 0,
        "target_wait_p95": 30.0,
        "min_prealloc": 0,
        "cost_per_hour": 0.12,
        "spares_reason": "p95 wait 0 s forecast with 0 spares",
        "spares_wait_p95": 0.0,
    }
    assert to_json(PoolOut.from_json(pool)) == pool


def client_commands() -> list[click.Command]:
    return [c for name, c in sorted(main.commands.items()) if name not in ("hw", "maint")]


def test_every_option_of_every_command_says_what_it_is_for() -> None:
    missing = [
        f"{command.name} {'/'.join(p.opts)}"
        for command in [main, *client_commands()]
        for p in command.params
        if isinstance(p, click.Option) and not p.help
    ]
    assert missing == []
    assert "--ttl" in (main.commands["ticket-extend"].help or "")
    assert "ticket-wait --timeout" in (main.epilog or "")
