"""The event log over HTTP and in the CLI, against a real server: filters, live stream, resume."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import ServerProcess, wait_until

GATED_POOLS = """
gated:
  max: 2
  max_prealloc: 0
  start_for_waiting: true
  tags: [gated]
  cmd_new: "while [ ! -e {gate} ]; do sleep 0.02; done; echo 10.0.0.7"
  cmd_delete: "echo deleting >&2"
spare:
  max: 1
  max_prealloc: 1
  tags: [spare]
  cmd_new: "echo 10.0.0.9"
  cmd_delete: "true"
"""


@pytest.fixture
def gated(tmp_path: Path, start_server: Callable[..., ServerProcess]) -> tuple[ServerProcess, Path]:
    """A server whose `gated` pool starts a resource only once the test opens the gate."""
    gate = tmp_path / "gate"
    pools = tmp_path / "pools.yaml"
    pools.write_text(GATED_POOLS.format(gate=gate))
    return start_server(pools, LESSOR_SERVER_ADMIN_TOKEN="sesame"), gate


def events(server: ServerProcess, **params: Any) -> list[dict[str, Any]]:
    with server.client() as c:
        answer = c.get("/api/v1/events", params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def sse(server: ServerProcess, path: str, headers: dict[str, str] | None = None) -> Iterator[Any]:
    """Yields each event of a stream as a dict, and None for each keep-alive comment."""
    with (
        httpx.Client(base_url=server.url, timeout=httpx.Timeout(10, read=30)) as c,
        c.stream("GET", path, headers=headers or {}) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        data: list[str] = []
        for line in response.iter_lines():
            if line.startswith("data:"):
                data.append(line[5:].strip())
            elif line.startswith(":"):
                yield None
            elif not line and data:
                yield json.loads("\n".join(data))
                data = []


def reader(stream: Iterator[Any]) -> queue.Queue[Any]:
    """The stream read by a thread, so the test can act while it waits for events."""
    got: queue.Queue[Any] = queue.Queue()

    def run() -> None:
        try:
            for item in stream:
                got.put(item)
        except Exception as e:  # the test ends with the server; the queue tells the rest
            got.put(e)

    threading.Thread(target=run, daemon=True).start()
    return got


def next_event(got: queue.Queue[Any], kind: str, timeout: float = 10) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        item = got.get(timeout=max(0.01, deadline - time.monotonic()))
        assert not isinstance(item, Exception), item
        if item is not None and item["kind"] == kind:
            return item  # type: ignore[no-any-return]


def test_a_tickets_life_is_listed_by_ticket_resource_pool_kind_and_time(
    gated: tuple[ServerProcess, Path],
) -> None:
    server, gate = gated
    before = datetime.now(UTC).isoformat()
    tid = int(server.lessor("ticket", "--tag", "gated", check=True).stdout)
    gate.touch()
    wait_until(
        lambda: any(e["kind"] == "ticket.assigned" for e in events(server, ticket=tid)),
        message="the ticket's assignment in its events",
    )
    server.lessor("ticket-close", str(tid), check=True)
    mine = events(server, ticket=tid)
    rid = next(e["resource_id"] for e in mine if e["kind"] == "ticket.assigned")
    wait_until(
        lambda: events(server, resource=rid)[-1]["kind"] == "resource.ended",
        message="the resource's deletion",
    )

    story = [e["kind"] for e in events(server, resource=rid)]
    assert story == [
        "resource.created",
        "hook.started",
        "hook.finished",
        "resource.up",
        "ticket.assigned",
        "ticket.closed",
        "resource.delete_requested",
        "resource.deleting",
        "hook.started",
        "hook.finished",
        "resource.ended",
    ]
    finished = events(server, resource=rid, kind="hook.finished")
    assert [e["details"]["hook"] for e in finished] == ["cmd_new", "cmd_delete"]
    assert all(e["details"]["exit_code"] == 0 and e["details"]["duration"] >= 0 for e in finished)
    assert [e["kind"] for e in events(server, ticket=tid)][:3] == [
        "ticket.opened",
        "ticket.assigned",
        "ticket.closed",
    ]
    assert {e["pool"] for e in events(server, pool="spare")} == {"spare"}
    assert all(e["pool"] == "gated" for e in events(server, pool="gated"))
    assert events(server, since=datetime.now(UTC).isoformat()) == []
    assert len(events(server, since=before)) >= len(story)
    assert len(events(server, limit=3)) == 3

    with server.client() as c:
        bad = c.get("/api/v1/events", params={"limit": -1})
    assert bad.status_code == 422 and "limit" in bad.json()["detail"]

    printed = server.lessor("events", "--ticket", str(tid), check=True).stdout.splitlines()
    assert "ticket.opened" in printed[0] and f"ticket={tid}" in printed[0]
    assert any("ticket.assigned" in line and "waited" in line for line in printed)
    both = server.lessor("events", "--ticket", "1", "--pool", "gated")
    assert both.returncode == 2 and "only one of" in both.stderr


def test_the_stream_pushes_each_event_as_it_happens_and_resumes_after_the_last_one(
    gated: tuple[ServerProcess, Path],
) -> None:
    server, gate = gated
    wait_until(lambda: events(server, pool="spare", kind="resource.up"), message="the spare")
    # Only new ones (limit=0), and only the gated pool's.
    got = reader(sse(server, "/api/v1/events/stream?limit=0&pool=gated"))
    tid = int(server.lessor("ticket", "--tag", "gated", check=True).stdout)
    created = next_event(got, "resource.created")
    assert created["pool"] == "gated" and created["resource_id"]
    started = next_event(got, "hook.started")
    assert started["details"] == {"hook": "cmd_new", "log": "alloc"}

    opened_at = time.monotonic()
    gate.touch()
    assigned = next_event(got, "ticket.assigned")
    # Pushed at once: the hook's own gate polling dominates, not a poll of the log.
    assert time.monotonic() - opened_at < 2.0
    assert assigned["ticket_id"] == tid and assigned["resource_id"] == created["resource_id"]

    # A client that lost the stream resumes right after the last event it saw.
    server.lessor("ticket-close", str(tid), check=True)
    wait_until(
        lambda: events(server, resource=created["resource_id"])[-1]["kind"] == "resource.ended",
        message="the resource's deletion",
    )
    again = sse(
        server, "/api/v1/events/stream?pool=gated", headers={"Last-Event-ID": str(assigned["id"])}
    )
    resumed = []
    for item in again:
        if item is not None:
            resumed.append(item["kind"])
        if resumed and resumed[-1] == "resource.ended":
            break
    assert resumed == [
        "ticket.closed",
        "resource.delete_requested",
        "resource.deleting",
        "hook.started",
        "hook.finished",
        "resource.ended",
    ]


def test_lessor_events_follow_prints_new_events_as_json_lines(
    gated: tuple[ServerProcess, Path],
) -> None:
    server, gate = gated
    follower = subprocess.Popen(
        [sys.executable, "-m", "lessor.cli", "events", "--follow", "--json", "--limit", "50"],
        env={**server.env, "LESSOR_SERVER": server.url},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert follower.stdout is not None
        lines = reader(iter(follower.stdout.readline, ""))
        # Whether the ticket comes before the stream is open or after, it is
        # printed: in the backlog (the newest 50) or live.
        tid = int(server.lessor("ticket", "--tag", "gated", check=True).stdout)
        gate.touch()
        seen = []
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            e = json.loads(lines.get(timeout=15))
            seen.append(e["kind"])
            if e["kind"] == "ticket.assigned" and e["ticket_id"] == tid:
                break
        assert "ticket.opened" in seen and seen[-1] == "ticket.assigned"
        assert seen.count("ticket.assigned") == 1  # nothing printed twice
    finally:
        follower.terminate()
        follower.wait(10)


def test_readyz_says_ready_when_the_database_answers_and_the_reconciler_runs(
    gated: tuple[ServerProcess, Path],
) -> None:
    server, _ = gated
    with server.client() as c:
        assert c.get("/readyz").json() == {"status": "ready"}
        assert c.get("/healthz").status_code == 200
