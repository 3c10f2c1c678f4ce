"""The chaos suite's parts: clients that open, wait, extend and close tickets on any
server; faults injected at random; and the invariants, checked at the end from the
event log and from the fake cloud's own records (`cloud`, beside this file).
"""

from __future__ import annotations

import itertools
import os
import random
import signal
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from lessor.domain.states import LIVE_RESOURCE_STATES, ResourceState, state_after
from tests.conftest import PgCluster, ServerProcess, wait_until

CLOUD = Path(__file__).with_name("cloud")
POOL = "chaos"
MAX, MAX_STARTING = 4, 2
POOLS = f"""
{POOL}:
  max: {MAX}
  max_starting: {MAX_STARTING}
  max_prealloc: 1
  tags: [chaos]
  hook_timeout: 4
  cmd_new: {CLOUD} new
  cmd_delete: {CLOUD} delete
"""
ENDED_TICKET = {"CLOSED", "EXPIRED", "FAILED"}


@dataclass
class Record:
    """What the clients saw."""

    opened: dict[int, str] = field(default_factory=dict)
    """Every ticket id a client received, with its key."""
    closed: set[int] = field(default_factory=set)
    waits: list[float] = field(default_factory=list)
    server_errors: list[str] = field(default_factory=list)
    cut: int = 0
    """Requests cut by a fault (connection errors, 503 while PostgreSQL restarts): promised,
    not errors."""
    lock: threading.Lock = field(default_factory=threading.Lock)


class Cluster:
    """The servers under test, and the faults done to them."""

    def __init__(self, servers: list[ServerProcess], pg: PgCluster | None) -> None:
        self.servers = servers
        self.pg = pg
        self.stopped: set[int] = set()
        self.faults: Counter[str] = Counter()
        self.lock = threading.Lock()

    def any(self) -> ServerProcess:
        return random.choice(self.servers)

    def kill9_and_restart(self) -> None:
        s = self.any()
        with self.lock:
            if id(s) in self.stopped:
                return
            s.kill9()
        self.faults["kill -9"] += 1
        s.start()

    def pause(self, seconds: float) -> None:
        s = self.any()
        with self.lock:
            if id(s) in self.stopped or s.proc.poll() is not None:
                return
            self.stopped.add(id(s))
            os.kill(s.proc.pid, signal.SIGSTOP)
        self.faults["SIGSTOP"] += 1
        time.sleep(seconds)  # the fault's length: what is injected, not waited for
        with self.lock:
            os.kill(s.proc.pid, signal.SIGCONT)
            self.stopped.discard(id(s))

    def restart_postgresql(self) -> None:
        assert self.pg is not None
        base = self.pg.datadir.parent
        ctl = str(self.pg.bindir / "pg_ctl")
        self.pg.run(
            ctl,
            "-D",
            str(self.pg.datadir),
            "-m",
            "immediate",
            "-w",
            "-l",
            str(base / "log"),
            "restart",
        )
        self.faults["pg_ctl restart -m immediate"] += 1


def client(cluster: Cluster, record: Record, until: float, seed: int) -> None:
    """Open, wait for, maybe extend, and close tickets on random servers until `until`."""
    try:
        _client(cluster, record, until, seed)
    except Exception as e:  # a client that stops is a finding, told in the table
        with record.lock:
            record.server_errors.append(f"client stopped: {type(e).__name__}: {e}")


def _client(cluster: Cluster, record: Record, until: float, seed: int) -> None:
    rnd = random.Random(seed)
    while time.monotonic() < until:
        body: dict[str, Any] = {"tags": ["chaos"]}
        if rnd.random() < 0.3:
            body["ttl"] = 20
        # a cut answer is retried with the same Idempotency-Key: no ticket is left behind
        headers = {"Idempotency-Key": f"chaos-{seed}-{rnd.getrandbits(64):x}"}
        opened = None
        while opened is None and time.monotonic() < until + 60:
            opened = _call(
                cluster,
                record,
                "POST",
                "/api/v1/tickets",
                json=body,
                headers=headers,
                accept=(200, 201),
            )
        if opened is None:
            continue
        tid, key = int(opened["id"]), str(opened["key"])
        with record.lock:
            record.opened[tid] = key
        started = time.monotonic()
        while time.monotonic() < until + 30:
            got = _call(cluster, record, "GET", f"/api/v1/tickets/{tid}", params={"wait": 5})
            if got is not None and got["state"] != "OPEN":
                if got["state"] == "ASSIGNED":
                    record.waits.append(time.monotonic() - started)
                break
        if "ttl" in body and rnd.random() < 0.5:
            _call(
                cluster,
                record,
                "POST",
                f"/api/v1/tickets/{tid}/extend",
                json={"ttl": 20},
                headers={"Lessor-Ticket-Key": key},
                accept=(200, 409),
            )
        time.sleep(rnd.random() * 0.3)  # holding the resource: the workload, not a wait
        close(cluster, record, tid, key)


def close(cluster: Cluster, record: Record, tid: int, key: str) -> None:
    for _ in range(20):
        done = _call(
            cluster,
            record,
            "POST",
            f"/api/v1/tickets/{tid}/close",
            headers={"Lessor-Ticket-Key": key},
            accept=(200, 409),
        )
        if done is not None:
            with record.lock:
                record.closed.add(tid)
            return


def _call(
    cluster: Cluster,
    record: Record,
    method: str,
    path: str,
    accept: tuple[int, ...] = (200,),
    **kw: Any,
) -> dict[str, Any] | None:
    """One request to a random server: its JSON, or None when a fault cut it (counted) or
    it was refused as `accept` allows (409: already closed by a retry that got through)."""
    s = cluster.any()
    try:
        r = httpx.request(method, s.url + path, timeout=15, **kw)
    except httpx.TransportError:
        record.cut += 1
        time.sleep(0.05)  # a dead or paused server: try another (a back-off, not a wait)
        return None
    if r.status_code == 503:  # documented: the database restarts (or is away); retry
        record.cut += 1
        return None
    if r.status_code >= 500:
        with record.lock:
            record.server_errors.append(f"{method} {path}: {r.status_code} {r.text[:200]}")
        return None
    if r.status_code not in accept:
        if r.status_code == 503:
            return None
        raise AssertionError(f"{method} {path}: {r.status_code} {r.text[:300]}")
    return r.json() if r.status_code in (200, 201) else {}


def faults(cluster: Cluster, until: float, seed: int, pg_restart_at: float | None) -> None:
    rnd = random.Random(seed)
    while time.monotonic() < until:
        time.sleep(rnd.uniform(3, 6))  # the pace of the faults
        if pg_restart_at is not None and time.monotonic() > pg_restart_at:
            cluster.restart_postgresql()
            pg_restart_at = None
        elif rnd.random() < 0.5:
            cluster.kill9_and_restart()
        else:
            cluster.pause(rnd.uniform(1, 8))  # past 5 s: the leader, if paused, is replaced


def all_events(server: ServerProcess) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    after = 0
    while True:
        page = httpx.get(
            f"{server.url}/api/v1/events", params={"after": after, "limit": 10_000}, timeout=60
        ).json()
        if not page:
            return found
        found += page
        after = page[-1]["id"]


def instances(cloud: Path) -> set[str]:
    return {p.name for p in (cloud / "instances").glob("*")}


def quiesce(server: ServerProcess, cloud: Path, timeout: float = 90) -> None:
    """Every hook done and every resource either a live instance or ENDED."""

    def settled() -> bool:
        live = httpx.get(f"{server.url}/api/v1/resources", timeout=30).json()
        busy = [r for r in live if r["state"] not in ("UP",)]
        return not busy and {r["name"] for r in live} == instances(cloud)

    try:
        wait_until(settled, timeout=timeout, interval=0.5, message="quiescence")
    except AssertionError:
        live = httpx.get(f"{server.url}/api/v1/resources", timeout=30).json()
        shown = [(r["name"], r["state"]) for r in live]
        tickets = httpx.get(f"{server.url}/api/v1/tickets", timeout=30).json()
        open_ = [(t["id"], t["state"]) for t in tickets if t["state"] not in ENDED_TICKET]
        raise AssertionError(
            f"no quiescence: resources {shown}, instances {sorted(instances(cloud))}, "
            f"active tickets {open_}"
        ) from None


def invariants(
    server: ServerProcess, record: Record, cloud: Path, faults_done: Counter[str]
) -> dict[str, tuple[object, bool]]:
    """Each invariant: what was measured, and whether it holds."""
    events = all_events(server)
    tickets = {
        tid: httpx.get(f"{server.url}/api/v1/tickets/{tid}", timeout=30) for tid in record.opened
    }
    lost = [
        t
        for t, r in tickets.items()
        if r.status_code != 200 or r.json()["state"] not in ENDED_TICKET
    ]
    unexplained = [
        t
        for t, r in tickets.items()
        if r.status_code == 200
        and r.json()["state"] in ("EXPIRED", "FAILED")
        and not r.json()["message"]
    ]

    # no two tickets hold one resource over overlapping intervals
    held: dict[int, list[tuple[int, int]]] = defaultdict(list)
    assigned: dict[int, tuple[int, int]] = {}
    for e in events:
        if e["kind"] == "ticket.assigned":
            assigned[e["ticket_id"]] = (e["resource_id"], e["id"])
    ends = {
        e["ticket_id"]: e["id"]
        for e in events
        if e["kind"] in ("ticket.closed", "ticket.expired", "ticket.failed")
    }
    for tid, (rid, start) in assigned.items():
        held[rid].append((start, ends.get(tid, 1 << 62)))
    doubles = 0
    for spans in held.values():
        spans.sort()
        doubles += sum(1 for a, b in itertools.pairwise(spans) if b[0] < a[1])

    # caps, at every event
    state: dict[int, ResourceState] = {}
    most_live = most_starting = 0
    for e in events:
        rid = e.get("resource_id")
        after = state_after(e["kind"], e.get("details") or {})
        if rid is None or after is None or e.get("pool") != POOL:
            continue
        state[rid] = after
        most_live = max(most_live, sum(1 for s in state.values() if s in LIVE_RESOURCE_STATES))
        most_starting = max(
            most_starting, sum(1 for s in state.values() if s is ResourceState.STARTING)
        )

    live = httpx.get(f"{server.url}/api/v1/resources", timeout=30).json()
    leaked = instances(cloud) ^ {r["name"] for r in live}
    longest = max(record.waits, default=0.0)
    return {
        "tickets opened": (len(record.opened), True),
        "faults": (dict(faults_done), sum(faults_done.values()) > 0),
        "requests cut by a fault": (record.cut, True),
        "tickets lost (not ended)": (len(lost), not lost),
        "tickets failed/expired without a reason": (len(unexplained), not unexplained),
        "double assignments": (doubles, doubles == 0),
        "instances leaked or missing": (sorted(leaked), not leaked),
        f"most alive at once (max {MAX})": (most_live, most_live <= MAX),
        f"most starting at once (max_starting {MAX_STARTING})": (
            most_starting,
            most_starting <= MAX_STARTING,
        ),
        "longest wait for a resource, s": (round(longest, 1), longest < 90),
        "server errors seen by clients": (record.server_errors[:3], not record.server_errors),
    }


def table(results: dict[str, tuple[object, bool]]) -> str:
    width = max(len(k) for k in results)
    lines = [f"{'invariant':<{width}}  ok   measured"]
    lines += [f"{k:<{width}}  {'yes' if ok else 'NO '}  {v}" for k, (v, ok) in results.items()]
    return "\n".join(lines)


def run(cluster: Cluster, seconds: float, clients: int, *, seed: int, pg_restart: bool) -> Record:
    record = Record()
    until = time.monotonic() + seconds
    threads = [
        threading.Thread(target=client, args=(cluster, record, until, seed + i))
        for i in range(clients)
    ]
    restart_at = time.monotonic() + seconds / 2 if pg_restart else None
    fault = threading.Thread(target=faults, args=(cluster, until, seed, restart_at))
    for t in [*threads, fault]:
        t.start()
    for t in [*threads, fault]:
        t.join(seconds + 120)
    for s in cluster.servers:  # nothing left paused or dead
        if s.proc.poll() is not None:
            s.start()
    for tid, key in list(record.opened.items()):
        if tid not in record.closed:
            close(cluster, record, tid, key)
    return record


def servers_for(
    start_server: Callable[..., ServerProcess], tmp: Path, db: str, n: int
) -> list[ServerProcess]:
    pools = tmp / "pools.yaml"
    pools.write_text(POOLS)
    return [
        start_server(pools, db=db, data=tmp / f"s{i}", FAKE_CLOUD_DIR=str(tmp / "cloud"))
        for i in range(n)
    ]
