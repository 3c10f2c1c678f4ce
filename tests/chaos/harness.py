"""The chaos suite's parts: clients that open, wait, extend and close tickets on any
server; faults injected at random; and the invariants, checked at the end from the
event log and from the fake cloud's own records (`cloud`, beside this file).
"""

from __future__ import annotations

import contextlib
import datetime
import itertools
import os
import random
import re
import signal
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

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
  start_for_waiting: true
  start_backoff: 1
  tags: [chaos]
  hook_timeout: 4
  cmd_new: {CLOUD} new
  cmd_delete: {CLOUD} delete
"""
ENDED_TICKET = {"CLOSED", "EXPIRED", "FAILED"}
LEADS = re.compile(r"this server leads the planning now \(epoch (\d+)\)")
LEFT = re.compile(r"no longer leads the planning \(epoch (\d+)\)|epoch (\d+) is over")
LEADER_PAUSE = 9.5
"""Seconds a paused leader may wait for its hand-over: IDLE_LIMIT (5 s) after its last
heartbeat, plus the others' attempts, under load; under CLAIM_LEASE's 15 s less a
renewal (5 s), so that its hooks' claims hold."""


def label(s: ServerProcess) -> str:
    """The server's name in the cloud's ledger (FAKE_CLOUD_SERVER, passed to its hooks)."""
    return s.env.get("FAKE_CLOUD_SERVER", "?")


@dataclass
class Handover:
    """A SIGSTOP of the leader: who it was, who took over, and when it woke."""

    paused: str
    epoch: int
    new_epoch: int | None
    """The epoch the next leader took while it was stopped; None: no hand-over in time."""
    last_event: int | None
    """The newest event id once the next leader led: whatever the old one committed is
    before it (take_lead waits for a fenced transaction to end)."""
    woke: float
    log: Path
    """The paused server's log: when it next led (legitimately starting hooks again)."""

    def led_again(self) -> float:
        """When the paused server next took the lead after waking (infinity: never)."""
        for line in self.log.read_text(errors="replace").splitlines():
            if LEADS.search(line):
                at = datetime.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
                if at > self.woke:
                    return at
        return float("inf")


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
    enough: int | None = None
    """Tickets to open before the clients stop (bench/chaos.py); None: until the time."""

    def done(self) -> bool:
        return self.enough is not None and len(self.opened) >= self.enough


class Cluster:
    """The servers under test, and the faults done to them."""

    def __init__(
        self,
        servers: list[ServerProcess],
        pg: PgCluster | None,
        spawn: Callable[[], ServerProcess] | None = None,
    ) -> None:
        self.servers = servers
        self.pg = pg
        self.spawn = spawn
        """Starts one more server on the same database (a server joining), if it may."""
        self.stopped: set[int] = set()
        self.faults: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.since: dict[int, int] = {id(s): 0 for s in servers}
        """Where each server's log of its current process starts (the log is appended)."""
        self.handovers: list[Handover] = []

    def any(self) -> ServerProcess:
        return random.choice(self.servers)

    def _start(self, s: ServerProcess) -> None:
        self.since[id(s)] = s.log.stat().st_size if s.log.exists() else 0
        s.start()

    def kill9_and_restart(self) -> None:
        s = self.any()
        with self.lock:
            if id(s) in self.stopped:
                return
            s.kill9()
        self.faults["kill -9"] += 1
        self._start(s)

    def epoch(self, s: ServerProcess) -> int | None:
        """The epoch `s` leads under now, as its log of this process says; None if it does
        not lead (the server exposes leadership only in its log)."""
        text = s.log.read_bytes()[self.since.get(id(s), 0) :].decode(errors="replace")
        led: int | None = None
        for line in text.splitlines():
            if m := LEADS.search(line):
                led = int(m[1])
            elif led is not None and (m := LEFT.search(line)) and int(m[1] or m[2]) == led:
                led = None
        return led

    def pause_leader(self, most: float) -> None:
        """SIGSTOP the leader until another server has taken the lead (at most `most` s,
        past IDLE_LIMIT), then SIGCONT it: what it applies after waking is checked from
        the cloud's ledger at the end (fencing)."""
        leading = [(e, s) for s in self.servers if (e := self.epoch(s)) is not None]
        if not leading or self.pg is None or len(self.servers) < 2:
            return  # alone, a paused leader has nobody to hand over to
        epoch, s = max(leading, key=lambda x: x[0])
        with self.lock:
            if id(s) in self.stopped or s.proc.poll() is not None:
                return
            self.stopped.add(id(s))
            os.kill(s.proc.pid, signal.SIGSTOP)
        self.faults["SIGSTOP of the leader"] += 1
        others = [o for o in self.servers if o is not s]
        deadline = time.monotonic() + most
        new: int | None = None
        while new is None and time.monotonic() < deadline:
            new = max((e for o in others if (e := self.epoch(o)) is not None), default=None)
            if new is not None and new <= epoch:
                new = None
            time.sleep(0.2)  # polling the others' logs for the hand-over, with a deadline
        last_event = _last_event_id(others) if new is not None else None
        with self.lock:
            os.kill(s.proc.pid, signal.SIGCONT)
            self.stopped.discard(id(s))
        self.handovers.append(Handover(label(s), epoch, new, last_event, time.time(), s.log))

    def join_and_leave(self, stay: float, kill: bool) -> None:
        """A server started while the others run, serving clients for `stay` s, then
        stopped cleanly or killed -9 with its hooks (as when its machine dies)."""
        if self.spawn is None:
            return
        s = self.spawn()
        with self.lock:
            self.since[id(s)] = 0
            self.servers.append(s)
        time.sleep(stay)  # the fault's length: what is injected, not waited for
        with self.lock:
            self.servers.remove(s)
        if kill:
            hooks = psutil.Process(s.proc.pid).children(recursive=True)
            s.kill9()
            for h in hooks:
                with contextlib.suppress(psutil.Error):
                    h.kill()
            self.faults["server joined, then kill -9"] += 1
        else:
            s.stop()
            self.faults["server joined, then stopped"] += 1

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
    while time.monotonic() < until and not record.done():
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


def faults(
    cluster: Cluster, record: Record, until: float, seed: int, pg_every: float | None
) -> None:
    """Faults at random; first, once each, those that a short run could otherwise miss."""
    rnd = random.Random(seed)
    first = ["leader", "join"] if cluster.pg is not None and cluster.spawn is not None else []
    rnd.shuffle(first)
    pg_next = time.monotonic() + pg_every if pg_every is not None else None
    while time.monotonic() < until and not record.done():
        time.sleep(rnd.uniform(3, 6))  # the pace of the faults
        roll = rnd.random()
        kind = first.pop() if first else None
        if pg_next is not None and pg_every is not None and time.monotonic() > pg_next:
            cluster.restart_postgresql()
            pg_next += pg_every
        elif kind == "leader" or (kind is None and cluster.pg is not None and roll < 0.2):
            cluster.pause_leader(LEADER_PAUSE)
        elif kind == "join" or (kind is None and cluster.spawn is not None and roll < 0.35):
            cluster.join_and_leave(rnd.uniform(2, 5), kill=rnd.random() < 0.5)
        elif roll < 0.7:
            cluster.kill9_and_restart()
        else:
            cluster.pause(rnd.uniform(1, 8))  # past 5 s: the leader, if paused, is replaced


def ledger(cloud: Path) -> list[tuple[float, str, str, str]]:
    """The cloud's own records: (time, new|up|failed|delete, instance, server that ran the
    hook)."""
    path = cloud / "ledger"
    lines = path.read_text().splitlines() if path.exists() else []
    return [(float(t), what, name, by) for t, what, name, by in (ln.split() for ln in lines)]


def most_at_once(cloud: Path) -> tuple[int, int]:
    """The most instances alive, and the most being made, at any instant, from the cloud's
    own ledger: what the hooks really did, whatever the event log says."""
    changes: list[tuple[float, int, int]] = []  # (time, alive +-1, starting +-1)
    ended: set[str] = set()
    for at, what, name, _ in ledger(cloud):
        if what == "new":
            changes.append((at, 1, 1))
        elif what in ("up", "failed"):
            changes.append((at, 0, -1))
            ended.add(name)
        elif what == "delete":
            changes.append((at, -1, 0))
    for beat in (cloud / "starting").glob("*"):  # killed while made: its last heartbeat
        if beat.name not in ended:
            changes.append((beat.stat().st_mtime, 0, -1))
    alive = starting = most_alive = most_starting = 0
    for _, a, st in sorted(changes, key=lambda c: (c[0], c[1] + c[2])):  # ends first
        alive, starting = alive + a, starting + st
        most_alive, most_starting = max(most_alive, alive), max(most_starting, starting)
    return most_alive, most_starting


def late_hooks(cluster: Cluster, events: list[dict[str, Any]], cloud: Path) -> list[str]:
    """Instances an ex-leader began to create after it woke from a pause (and before it
    led again), for resources created after the next leader led: a plan it applied
    though fenced."""
    created = {
        str((e.get("details") or {}).get("name")): int(e["id"])
        for e in events
        if e["kind"] == "resource.created"
    }
    found = []
    for h in cluster.handovers:
        if h.last_event is None:
            continue
        until = h.led_again()
        for at, what, name, by in ledger(cloud):
            late = h.woke < at < until and by == h.paused and what == "new"
            if late and created.get(name, 1 << 62) > h.last_event:
                found.append(f"{name} by {by} (epoch {h.epoch} over)")
    return found


def _last_event_id(servers: list[ServerProcess]) -> int | None:
    for s in servers:
        try:
            page = httpx.get(f"{s.url}/api/v1/events", params={"limit": 1}, timeout=10).json()
        except (httpx.TransportError, ValueError):
            continue
        return int(page[-1]["id"]) if page else 0
    return None


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


def invariants(cluster: Cluster, record: Record, cloud: Path) -> dict[str, tuple[object, bool]]:
    """Each invariant: what was measured, and whether it holds."""
    server, faults_done = cluster.servers[0], cluster.faults
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
        of = e.get("resource_id")
        after = state_after(e["kind"], e.get("details") or {})
        if of is None or after is None or e.get("pool") != POOL:
            continue
        state[of] = after
        most_live = max(most_live, sum(1 for s in state.values() if s in LIVE_RESOURCE_STATES))
        most_starting = max(
            most_starting, sum(1 for s in state.values() if s is ResourceState.STARTING)
        )

    live = httpx.get(f"{server.url}/api/v1/resources", timeout=30).json()
    leaked = instances(cloud) ^ {r["name"] for r in live}
    longest = max(record.waits, default=0.0)
    cloud_alive, cloud_starting = most_at_once(cloud)
    results: dict[str, tuple[object, bool]] = {
        "tickets opened": (len(record.opened), True),
        "faults": (dict(faults_done), sum(faults_done.values()) > 0),
        "requests cut by a fault": (record.cut, True),
        "tickets lost (not ended)": (len(lost), not lost),
        "tickets failed/expired without a reason": (len(unexplained), not unexplained),
        "double assignments": (doubles, doubles == 0),
        "instances leaked or missing": (sorted(leaked), not leaked),
        f"most alive at once in the event log (max {MAX})": (most_live, most_live <= MAX),
        f"most starting at once in the event log (max_starting {MAX_STARTING})": (
            most_starting,
            most_starting <= MAX_STARTING,
        ),
        f"most instances alive at once in the cloud (max {MAX})": (
            cloud_alive,
            cloud_alive <= MAX,
        ),
        f"most instances being made at once in the cloud (max_starting {MAX_STARTING})": (
            cloud_starting,
            cloud_starting <= MAX_STARTING,
        ),
        "longest wait for a resource, s": (round(longest, 1), longest < 90),
        "server errors seen by clients": (record.server_errors[:3], not record.server_errors),
    }
    if cluster.handovers:
        slow = [h.paused for h in cluster.handovers if h.new_epoch is None]
        late = late_hooks(cluster, events, cloud)
        done = [f"{h.paused}: epoch {h.epoch} -> {h.new_epoch}" for h in cluster.handovers]
        results["leaders paused (SIGSTOP) and replaced"] = (done, True)
        results[f"paused leaders not replaced within {LEADER_PAUSE} s"] = (slow, not slow)
        results["instances an ex-leader started after waking"] = (late[:3], not late)
    return results


def table(results: dict[str, tuple[object, bool]]) -> str:
    width = max(len(k) for k in results)
    lines = [f"{'invariant':<{width}}  ok   measured"]
    lines += [f"{k:<{width}}  {'yes' if ok else 'NO '}  {v}" for k, (v, ok) in results.items()]
    return "\n".join(lines)


def run(
    cluster: Cluster,
    seconds: float,
    clients: int,
    *,
    seed: int,
    pg_restart: bool,
    tickets: int | None = None,
    pg_every: float | None = None,
) -> Record:
    """Clients and faults for `seconds` (or until `tickets` are opened); a PostgreSQL
    restart half-way (or every `pg_every` s); then every server up and every ticket closed."""
    record = Record(enough=tickets)
    until = time.monotonic() + seconds
    threads = [
        threading.Thread(target=client, args=(cluster, record, until, seed + i))
        for i in range(clients)
    ]
    every = (pg_every or seconds / 2) if pg_restart else None
    fault = threading.Thread(target=faults, args=(cluster, record, until, seed, every))
    for t in [*threads, fault]:
        t.start()
    for t in [*threads, fault]:
        t.join(seconds + 120)
    for s in cluster.servers:  # nothing left paused or dead
        if s.proc.poll() is not None:
            cluster._start(s)
    for tid, key in list(record.opened.items()):
        if tid not in record.closed:
            close(cluster, record, tid, key)
    return record


def servers_for(
    start_server: Callable[..., ServerProcess], tmp: Path, db: str, n: int, pg: PgCluster | None
) -> Cluster:
    """`n` servers on `db`; on PostgreSQL, more may join (and leave) as a fault."""
    pools = tmp / "pools.yaml"
    pools.write_text(POOLS)
    names = itertools.count()

    def one() -> ServerProcess:
        i = next(names)
        return start_server(
            pools,
            db=db,
            data=tmp / f"s{i}",
            FAKE_CLOUD_DIR=str(tmp / "cloud"),
            FAKE_CLOUD_SERVER=f"s{i}",
        )

    servers = [one() for _ in range(n)]
    return Cluster(servers, pg, one if pg is not None else None)
