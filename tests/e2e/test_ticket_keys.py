"""Ticket keys and idempotent opens, client side: the real CLI against a fake of the contract.

See tests/e2e/fake_server.py for the contract; the real server's own tests
of it come with its side.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import free_port, wait_until
from tests.e2e.fake_server import FakeServer


@pytest.fixture
def fake() -> Iterator[FakeServer]:
    server = FakeServer().start()
    yield server
    server.stop()


def lessor(
    url: str, state: Path, *args: str, stdin: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    """The real CLI, as one user (whose state directory is `state`) of one machine."""
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in ("LESSOR_TICKET_KEY", "LESSOR_ADMIN_TOKEN", "LESSOR_SERVER")
    }
    return subprocess.run(
        [sys.executable, "-m", "lessor.cli", "--server", url, *args],
        env={**base, "XDG_STATE_HOME": str(state), **env},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def kept(state: Path) -> dict[str, Any]:
    content = json.loads((state / "lessor" / "tickets.json").read_text())
    return content["servers"]  # type: ignore[no-any-return]


def keys_sent(fake: FakeServer, tid: int) -> list[str | None]:
    return [key for _, path, key, _ in fake.fake.seen if path.startswith(f"/api/v1/tickets/{tid}")]


def test_the_key_of_an_opened_ticket_is_kept_privately_and_every_later_command_sends_it(
    fake: FakeServer, tmp_path: Path
) -> None:
    me = tmp_path / "me"
    opened = lessor(fake.url, me, "ticket", "--tag", "secret")
    assert opened.returncode == 0, opened.stderr
    tid = int(opened.stdout)
    key = fake.fake.tickets[tid].key
    assert opened.stdout == f"{tid}\n"  # the key is not printed unless asked for

    path = me / "lessor" / "tickets.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert kept(me)[fake.url]["tickets"] == {
        str(tid): {"key": key, "saved": pytest.approx(time.time(), abs=60)}
    }

    waited = lessor(fake.url, me, "ticket-wait", str(tid))
    assert waited.returncode == 0, waited.stderr
    assert waited.stdout == f"data-of-{tid}\n"  # a secret pool's data: only with the key
    checked = lessor(fake.url, me, "ticket-check", str(tid))
    assert (checked.returncode, checked.stdout) == (0, waited.stdout)
    shown = lessor(fake.url, me, "ticket-show", str(tid))
    assert "kept on this machine" in shown.stdout and key not in shown.stdout
    extended = lessor(fake.url, me, "ticket-extend", str(tid), "--ttl", "60")
    assert extended.returncode == 0, extended.stderr
    assert lessor(fake.url, me, "ticket-close", str(tid)).returncode == 0
    assert fake.fake.tickets[tid].state == "CLOSED"
    assert set(keys_sent(fake, tid)) == {key}  # wait, check, show, extend, close: all with it

    assert kept(me)[fake.url]["tickets"] == {}  # closed: its key is forgotten


def test_a_ticket_is_used_elsewhere_only_with_its_key_given_from_a_file_or_the_environment(
    fake: FakeServer, tmp_path: Path
) -> None:
    me, other = tmp_path / "me", tmp_path / "other"
    opened = lessor(fake.url, me, "ticket", "--tag", "secret", "--print-key")
    assert opened.returncode == 0, opened.stderr
    tid_text, key = opened.stdout.split()
    tid = int(tid_text)
    assert key == fake.fake.tickets[tid].key

    # Another user (or machine) has no key for it: refused, and told how to give one.
    refused = lessor(fake.url, other, "ticket-close", tid_text)
    assert refused.returncode == 4
    assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
    assert "--key-file" in refused.stderr and "LESSOR_TICKET_KEY" in refused.stderr
    assert lessor(fake.url, other, "ticket-wait", tid_text).returncode == 4
    wrong = lessor(fake.url, other, "ticket-close", tid_text, LESSOR_TICKET_KEY="nope")
    assert wrong.returncode == 4 and "not accepted" in wrong.stderr
    assert fake.fake.tickets[tid].state == "ASSIGNED"

    # With the key: from stdin, from a file, from the environment.
    waited = lessor(fake.url, other, "ticket-wait", tid_text, "--key-file", "-", stdin=key + "\n")
    assert (waited.returncode, waited.stdout) == (0, f"data-of-{tid}\n")
    key_file = tmp_path / "key"
    key_file.write_text(key)
    assert (
        lessor(fake.url, other, "ticket-check", tid_text, "--key-file", str(key_file)).returncode
        == 0
    )
    closed = lessor(fake.url, other, "ticket-close", tid_text, LESSOR_TICKET_KEY=key)
    assert closed.returncode == 0, closed.stderr
    assert fake.fake.tickets[tid].state == "CLOSED"
    # A key is never an argument (`ps` shows those to everyone): there is no --key.
    assert lessor(fake.url, other, "ticket-close", tid_text, "--key", key).returncode == 2

    # One key is one ticket's.
    two = lessor(fake.url, other, "ticket-close", tid_text, "99", "--key-file", str(key_file))
    assert two.returncode == 2 and "one ticket" in two.stderr


def test_a_lost_answer_to_an_open_is_asked_again_and_answers_the_same_ticket(
    fake: FakeServer, tmp_path: Path
) -> None:
    fake.fake.lose_open_answers = [502, 503, 504]
    opened = lessor(fake.url, tmp_path, "ticket", "--tag", "fake")
    assert opened.returncode == 0, opened.stderr
    assert list(fake.fake.tickets) == [1]  # one ticket, not four
    assert opened.stdout == "1\n"
    assert opened.stderr.count("trying again") == 1  # said once
    posts = [i for m, p, _, i in fake.fake.seen if (m, p) == ("POST", "/api/v1/tickets")]
    assert len(posts) == 4 and len(set(posts)) == 1 and posts[0]  # the same idempotency key
    assert kept(tmp_path)[fake.url]["tickets"]["1"]["key"] == fake.fake.tickets[1].key


def test_an_open_waits_a_few_seconds_for_a_server_that_is_not_up_yet(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k != "LESSOR_SERVER"}
    err = tmp_path / "stderr"
    with err.open("w") as errf:
        cli = subprocess.Popen(
            [sys.executable, "-m", "lessor.cli", "--server", url, "ticket", "--tag", "fake"],
            env={**env, "XDG_STATE_HOME": str(tmp_path)},
            stdout=subprocess.PIPE,
            stderr=errf,
            text=True,
        )
    wait_until(lambda: "trying again" in err.read_text(), message="the CLI to retry")
    server = FakeServer(port).start()
    try:
        out, _ = cli.communicate(timeout=30)
        assert cli.returncode == 0, err.read_text()
        assert out == "1\n" and list(server.fake.tickets) == [1]
    finally:
        server.stop()

    # No server at all: exit 3 after the retries, in a few seconds, not never.
    started = time.monotonic()
    gone = lessor(url, tmp_path, "ticket", "--tag", "fake")
    assert gone.returncode == 3 and "cannot reach" in gone.stderr
    assert time.monotonic() - started < 20


def test_ticket_wait_rides_out_a_server_answering_503_for_a_while(
    fake: FakeServer, tmp_path: Path
) -> None:
    fake.fake.assign_at_once = False
    tid = int(lessor(fake.url, tmp_path, "ticket", "--tag", "fake").stdout)
    fake.fake.fail_waits = [503, 503, 500, 502]
    waiting = subprocess.Popen(
        [sys.executable, "-m", "lessor.cli", "--server", fake.url, "ticket-wait", str(tid)],
        env={**os.environ, "XDG_STATE_HOME": str(tmp_path)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_until(lambda: not fake.fake.fail_waits, message="the 5xx answers to be used up")
    fake.fake.assign(tid, b"late\n")
    out, err = waiting.communicate(timeout=30)
    assert waiting.returncode == 0, err
    assert out == "late\n"
    assert err.count("went away; reconnecting") == 1


def test_parallel_opens_keep_every_key(fake: FakeServer, tmp_path: Path) -> None:
    results: list[subprocess.CompletedProcess[str]] = []

    def one() -> None:
        results.append(lessor(fake.url, tmp_path, "ticket", "--tag", "fake"))

    threads = [threading.Thread(target=one) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert [r.returncode for r in results] == [0] * 6
    tickets = kept(tmp_path)[fake.url]["tickets"]
    assert isinstance(tickets, dict)
    assert {int(t) for t in tickets} == set(fake.fake.tickets) == set(range(1, 7))


def test_a_corrupt_or_foreign_key_file_is_one_warning_and_commands_still_work(
    fake: FakeServer, tmp_path: Path
) -> None:
    path = tmp_path / "lessor" / "tickets.json"
    path.parent.mkdir()
    path.write_text("{not json")
    opened = lessor(fake.url, tmp_path, "ticket", "--tag", "fake")
    assert opened.returncode == 0 and opened.stdout == "1\n"
    assert opened.stderr.count("\n") == 1 and "not a file of ticket keys" in opened.stderr
    assert kept(tmp_path)[fake.url]["tickets"]["1"]["key"] == fake.fake.tickets[1].key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    if os.geteuid() != 0:
        return  # only root can give a file away
    os.chown(path, 65534, 65534)
    before = path.read_text()
    second = lessor(fake.url, tmp_path, "ticket", "--tag", "fake")
    assert second.returncode == 0 and second.stdout == "2\n"
    assert second.stderr.count("\n") == 1 and "belongs to uid 65534" in second.stderr
    assert path.read_text() == before  # not ours: left alone
    closed = lessor(
        fake.url, tmp_path, "ticket-close", "2", LESSOR_TICKET_KEY=fake.fake.tickets[2].key
    )
    assert closed.returncode == 0, closed.stderr


def test_old_keys_of_tickets_that_ended_are_pruned(fake: FakeServer, tmp_path: Path) -> None:
    # Secret pools' tickets: asking about them takes their keys too.
    first = [int(lessor(fake.url, tmp_path, "ticket", "--tag", "secret").stdout) for _ in range(2)]
    fake.fake.tickets[first[0]].state = "CLOSED"  # closed elsewhere (expiry, an admin)
    path = tmp_path / "lessor" / "tickets.json"
    content = json.loads(path.read_text())
    entries = content["servers"][fake.url]["tickets"]
    entries["99"] = {"key": "of-a-ticket-gone", "saved": 0}  # a database since replaced
    for entry in entries.values():
        entry["saved"] = time.time() - 3 * 86400
    path.write_text(json.dumps(content))

    assert lessor(fake.url, tmp_path, "ticket", "--tag", "fake").returncode == 0
    assert set(kept(tmp_path)[fake.url]["tickets"]) == {str(first[1]), "3"}
