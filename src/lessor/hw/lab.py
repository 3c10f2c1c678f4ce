"""Shared-lab mode: reserve this machine's cores, NICs and GPUs through a lessor server.

Each reservable core, NIC and GPU is a resource of a static pool on the server
(`lessor hw pools`); holding its ticket is having reserved the hardware. Taking
several at once never deadlocks two clients: a client first takes the
host's gate (a pool of one resource; tickets are served first come, first
served, so the gate is the FIFO queue), picks a NUMA node with enough free
slots (with the plan of `rules.py`, as in local mode), opens one ticket per
slot (assigned at once: only whoever has the gate takes slots), then gives
the gate back. A reservation never waits for the gate, so there is no cycle.

No stale reservation survives its process: every ticket is opened with a
lease that a thread renews while the command runs. `kill -9` stops the
renewals and the server closes the tickets within one lease (`--lease`,
30 s by default); another `lessor hw` on this machine frees them sooner,
seeing the dead process's reservation file unlocked (`lab_reservations`).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Callable

from lessor.client.http import ClientError, LessorClient, ServerUnreachable
from lessor.client.models import ResourceOut, TicketOut, to_json
from lessor.hw.config import Reservable
from lessor.hw.fit import Grant, fit, possible
from lessor.hw.lab_pools import GATE_TAG, HW_TAG, SANDBOX, host_tag
from lessor.hw.lab_reservations import (
    ReservationFile,
    read_keys,
    read_reservations,
    remove_keys,
    ticket_ids,
)
from lessor.hw.protocol import EXIT_BUSY, EXIT_IMPOSSIBLE, lock_name
from lessor.hw.rules import Request, plan
from lessor.hw.run import Limits, Unavailable
from lessor.hw.topology import Core, Gpu, Nic, Topology
from lessor.hw.words import amount, listing

Slot = Core | Nic | Gpu

HOST_ENV = "LESSOR_HW_HOST"
POLL = 0.1
"""Seconds between looks at the server while holding the gate and waiting for slots."""


def host_of(explicit: str | None) -> str:
    return explicit or os.environ.get(HOST_ENV) or socket.gethostname()


def slot_of(resource: ResourceOut | TicketOut) -> Slot | None:
    """The core, NIC or GPU a resource stands for, from what its cmd_new printed."""
    try:
        d = json.loads(resource.data or "")
        if d["kind"] == "core":
            return Core(int(d["core"]), int(d["node"]), tuple(int(c) for c in d["cpus"]))
        if d["kind"] == "nic":
            return Nic(str(d["name"]), str(d["pci"]), int(d["node"]))
        if d["kind"] == "gpu":
            uuid = d.get("uuid")
            return Gpu(
                str(d["pci"]),
                str(d["vendor"]),
                str(d.get("device", "")),
                int(d["node"]),
                int(d["index"]),
                str(uuid) if uuid else None,
            )
    except (ValueError, KeyError, TypeError):
        pass
    return None


def kind_of(slot: Slot) -> str:
    """The slot's tag in the pools (and its unit's kind)."""
    return "core" if isinstance(slot, Core) else "nic" if isinstance(slot, Nic) else "gpu"


def host_slots(client: LessorClient, host: str) -> list[tuple[ResourceOut, Slot]]:
    """This host's live slots with their resources."""
    wanted = {HW_TAG, host_tag(host)}
    found = []
    for r in client.resources():
        if wanted <= set(r.tags):
            slot = slot_of(r)
            if slot is not None:
                found.append((r, slot))
    return found


def _topology(slots: list[Slot]) -> tuple[Topology, Reservable]:
    """The machine as its slots describe it; every slot is reservable."""
    topo = Topology(
        tuple(sorted((s for s in slots if isinstance(s, Core)), key=lambda c: c.id)),
        tuple(sorted((s for s in slots if isinstance(s, Nic)), key=lambda n: n.name)),
        tuple(sorted((s for s in slots if isinstance(s, Gpu)), key=lambda g: g.pci)),
    )
    every = Reservable(
        frozenset(c.id for c in topo.cores),
        frozenset(n.name for n in topo.nics),
        frozenset(g.pci for g in topo.gpus),
    )
    return topo, every


def is_free(r: ResourceOut) -> bool:
    return r.state == "UP" and not r.hold_reason and r.sandbox in (None, SANDBOX)


class Leases:
    """Renews our tickets' leases from a thread; `on_lost` hears of one the server closed."""

    def __init__(self, server: str, ttl: float, on_lost: Callable[[int, str], None]) -> None:
        self.ttl = ttl
        self.ids: list[int] = []
        self.keys: dict[int, str] = {}
        """Each ticket's key: what proves this run holds it (extend, close)."""
        self._on_lost = on_lost
        self._stop = threading.Event()
        self._client = LessorClient(server, timeout=max(ttl / 3, 1.0))
        self._thread = threading.Thread(target=self._run, name="lessor-hw-lease", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        warned = False
        while not self._stop.wait(self.ttl / 3):
            for tid in list(self.ids):
                try:
                    self._client.extend_ticket(tid, self.ttl, key=self.keys.get(tid))
                    warned = False
                except ClientError as e:
                    if e.status in (404, 409) and tid in self.ids:
                        self.ids.remove(tid)
                        self._on_lost(tid, str(e))
                except ServerUnreachable as e:
                    if not warned:
                        print(f"lessor hw: cannot renew the lease: {e}", file=sys.stderr)
                        warned = True

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._client.close()


class Lab:
    """One `lessor hw --server` run: its client, leases and reservation file."""

    def __init__(self, server: str, host: str, lease: float, state_dir: str) -> None:
        self.server, self.host, self.state_dir = server, host, state_dir
        self.client = LessorClient(server, timeout=10.0)  # a lost server must not hang the end
        self.lost: Callable[[int, str], None] = lambda tid, why: None
        self.leases = Leases(server, lease, self._lost)
        self.file: ReservationFile | None = None

    def _lost(self, tid: int, why: str) -> None:
        self.lost(tid, why)  # set once the command runs: it is the one to stop

    def _open(self, tags: list[str]) -> TicketOut:
        try:
            t = self.client.open_ticket(tags, sandbox=SANDBOX, ttl=self.leases.ttl)
        except ClientError as e:
            if e.status == 422:
                raise Unavailable(
                    f"the server at {self.server} has no pool for {' '.join(tags)} ({e}); "
                    f"generate this machine's pools with `lessor hw pools --host {self.host}`",
                    EXIT_IMPOSSIBLE,
                ) from e
            raise
        self.leases.ids.append(t.id)
        if t.key is not None:
            self.leases.keys[t.id] = t.key
        if self.file is not None:
            self.file.update(tickets=list(self.leases.ids))
            self.file.keep_keys(self.leases.keys)
        return t

    def _close(self, tid: int) -> None:
        if tid in self.leases.ids:
            self.leases.ids.remove(tid)
        with contextlib.suppress(ClientError, ServerUnreachable):
            self.client.close_ticket(tid, key=self.leases.keys.pop(tid, None))
        if self.file is not None:
            self.file.update(tickets=list(self.leases.ids))
            self.file.keep_keys(self.leases.keys)

    def reserve(self, req: Request, limits: Limits, info: dict[str, object]) -> Grant:
        """Gate, node, slots; raises Unavailable (busy, impossible) after closing what it opened."""
        everything, every = _topology([s for _, s in host_slots(self.client, self.host)])
        wanted = plan(everything, every, req)
        if not possible(wanted):
            have = listing(
                [
                    amount(len(every.cores), "cores"),
                    amount(len(every.nics), "nics"),
                    amount(len(every.gpus), "gpus"),
                ]
            )
            raise Unavailable(
                f"the pools of {self.host} on {self.server} cannot ever give {req.wants()} "
                f"(they have {have}; see `lessor hw pools --host {self.host}`)",
                EXIT_IMPOSSIBLE,
            )
        self.file = ReservationFile(self.state_dir, {**info, "server": self.server, "tickets": []})
        started = time.monotonic()
        told = False

        def give_up_or_wait() -> None:
            """Busy: exit, or say once who reserved the hardware and keep waiting."""
            nonlocal told
            waited = time.monotonic() - started
            timeout = limits.wait_timeout
            if limits.no_wait or (timeout is not None and waited >= timeout):
                what = describe_reservations(self.client, self.host, self.state_dir)
                raise Unavailable(f"busy: {what}", EXIT_BUSY)
            if not told:
                what = describe_reservations(self.client, self.host, self.state_dir)
                print(f"lessor hw: waiting; {what}", file=sys.stderr)
                told = True

        gate = self._open([GATE_TAG, host_tag(self.host)])
        try:
            while gate.state == "OPEN":
                self._free_dead()
                give_up_or_wait()
                left = 1.0
                if limits.wait_timeout is not None:
                    left = min(left, max(0.0, limits.wait_timeout - time.monotonic() + started))
                gate = self.client.get_ticket(gate.id, wait=left or 0.01)
            if gate.state != "ASSIGNED":
                raise Unavailable(f"gate ticket {gate.id}: {gate.message}", EXIT_BUSY)
            # We have the gate: nobody else takes this host's slots until we give it back.
            while True:
                free = {_lock(s) for r, s in host_slots(self.client, self.host) if is_free(r)}
                pick = fit(wanted, free)
                if pick is not None:
                    break
                self._free_dead()
                give_up_or_wait()
                time.sleep(POLL)
            return self._take(pick, req)
        except BaseException:
            for tid in list(self.leases.ids):
                self._close(tid)
            raise
        finally:
            self._close(gate.id)

    def _take(self, pick: Grant, req: Request) -> Grant:
        """A ticket for each picked unit's pool; the grant is what the server assigned."""
        base = [HW_TAG, host_tag(self.host)]
        opened = [self._open([*base, f"node={u.node}", u.kind]) for u in pick.units]
        got: list[Slot] = []
        for first in opened:
            t = first
            while t.state == "OPEN":  # only if someone outside lessor hw took a slot
                t = self.client.get_ticket(t.id, wait=5)
            slot = slot_of(t) if t.state == "ASSIGNED" else None
            if slot is None:
                raise Unavailable(f"ticket {t.id} {t.state}: {t.message}", EXIT_BUSY)
            got.append(slot)
        # the same rules over exactly what was assigned: the order, the CPUs with --smt
        topo, every = _topology(got)
        grant = fit(
            plan(topo, every, Request(req.cores, req.nics, req.gpus, False, req.smt)),
            {_lock(s) for s in got},
        )
        assert grant is not None and self.file is not None
        self.file.update(
            cpus=list(grant.cpus),
            nic_names=[u.key for u in grant.of_kind("nic")],
            gpus=[u.key for u in grant.of_kind("gpu")],
        )
        return grant

    def _free_dead(self) -> None:
        """Close the tickets of dead processes on this machine, rather than wait for leases."""
        for path, info, alive in read_reservations(self.state_dir):
            if alive or info.get("server") != self.server:
                continue
            keys = read_keys(path)  # this user's own; another's tickets end with their lease
            for tid in ticket_ids(info):
                if tid in keys:
                    with contextlib.suppress(ClientError, ServerUnreachable):
                        self.client.close_ticket(tid, key=keys[tid])
            remove_keys(path)
            with contextlib.suppress(OSError):
                os.unlink(path)

    def release(self) -> None:
        """Close every ticket now; what a dead server misses, the leases end."""
        self.leases.stop()
        for tid in list(self.leases.ids):
            self._close(tid)
        if self.file is not None:
            self.file.remove()
        self.client.close()


def _lock(slot: Slot) -> str:
    key = slot.id if isinstance(slot, Core) else slot.name if isinstance(slot, Nic) else slot.pci
    return lock_name(kind_of(slot), key)


def reserved_tickets(client: LessorClient, host: str) -> tuple[list[TicketOut], list[TicketOut]]:
    """(assigned, open) tickets of this host's pools, oldest first."""
    mine = {host_tag(host)}
    tickets = [t for t in client.tickets(["OPEN", "ASSIGNED"]) if mine <= set(t.tags)]
    tickets.sort(key=lambda t: t.id)
    return [t for t in tickets if t.state == "ASSIGNED"], [t for t in tickets if t.state == "OPEN"]


def describe_reservations(client: LessorClient, host: str, state_dir: str) -> str:
    assigned, _ = reserved_tickets(client, host)
    if not assigned:
        return "waiting for earlier requests in the queue"
    by_ticket = {
        tid: info
        for _, info, alive in read_reservations(state_dir)
        if alive
        for tid in ticket_ids(info)
    }
    seen: set[int] = set()
    parts = []
    for t in assigned:
        info = by_ticket.get(t.id)
        if info is None:
            until = to_json(t)["expires_at"] or "closed"
            parts.append(f"ticket {t.id} (lease until {until})")
        elif id(info) not in seen:
            seen.add(id(info))
            parts.append(f"{info.get('user')} pid {info.get('pid')} ({info.get('command')})")
    return "reserved by " + "; ".join(parts)
