"""Shared-lab mode: reserve this machine's cores and NICs through a lessor server.

Each reservable core and NIC is a resource of a static pool on the server
(`lessor hw pools`); holding its ticket is holding the hardware. Taking
several at once never deadlocks two clients: a client first takes the
host's gate (a pool of one resource; tickets are served first come, first
served, so the gate is the FIFO queue), picks a NUMA node with enough free
slots, opens one ticket per slot (assigned at once: only the gate holder
takes slots), then gives the gate back. Holders of slots never wait for the
gate, so there is no cycle.

No stale reservation survives a dead holder: every ticket is opened with a
lease that a thread renews while the command runs. `kill -9` stops the
renewals and the server closes the tickets within one lease (`--lease`,
30 s by default); another `lessor hw` on this machine frees them sooner,
seeing the dead holder's file unlocked (`lab_holders`).
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
from lessor.hw.choose import Choice, Request, choose, possible
from lessor.hw.lab_holders import HolderFile, read_holders, ticket_ids
from lessor.hw.lab_pools import GATE_TAG, HW_TAG, SANDBOX, host_tag
from lessor.hw.run import EXIT_BUSY, EXIT_IMPOSSIBLE, Limits, Unavailable
from lessor.hw.topology import Core, Nic, Topology

HOST_ENV = "LESSOR_HW_HOST"
POLL = 0.1
"""Seconds between looks at the server while holding the gate and waiting for slots."""


def host_of(explicit: str | None) -> str:
    return explicit or os.environ.get(HOST_ENV) or socket.gethostname()


def slot_of(resource: ResourceOut | TicketOut) -> Core | Nic | None:
    """The core or NIC a resource stands for, from what its cmd_new printed."""
    try:
        d = json.loads(resource.data or "")
        if d["kind"] == "core":
            return Core(int(d["core"]), int(d["node"]), tuple(int(c) for c in d["cpus"]))
        if d["kind"] == "nic":
            return Nic(str(d["name"]), str(d["pci"]), int(d["node"]))
    except (ValueError, KeyError, TypeError):
        pass
    return None


def host_slots(client: LessorClient, host: str) -> list[tuple[ResourceOut, Core | Nic]]:
    """This host's live slots with their resources."""
    wanted = {HW_TAG, host_tag(host)}
    found = []
    for r in client.resources():
        if wanted <= set(r.tags):
            slot = slot_of(r)
            if slot is not None:
                found.append((r, slot))
    return found


def _topology(slots: list[Core | Nic]) -> Topology:
    return Topology(
        tuple(sorted((s for s in slots if isinstance(s, Core)), key=lambda c: (c.node, c.id))),
        tuple(sorted((s for s in slots if isinstance(s, Nic)), key=lambda n: (n.node, n.name))),
    )


def is_free(r: ResourceOut) -> bool:
    return r.state == "UP" and not r.hold_reason and r.sandbox in (None, SANDBOX)


class Leases:
    """Renews our tickets' leases from a thread; `on_lost` hears of one the server closed."""

    def __init__(self, server: str, ttl: float, on_lost: Callable[[int, str], None]) -> None:
        self.ttl = ttl
        self.ids: list[int] = []
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
                    self._client.extend_ticket(tid, self.ttl)
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
    """One `lessor hw --server` run: its client, leases and holder file."""

    def __init__(self, server: str, host: str, lease: float, state_dir: str) -> None:
        self.server, self.host, self.state_dir = server, host, state_dir
        self.client = LessorClient(server, timeout=10.0)  # a lost server must not hang the end
        self.lost: Callable[[int, str], None] = lambda tid, why: None
        self.leases = Leases(server, lease, self._lost)
        self.holder: HolderFile | None = None

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
        if self.holder is not None:
            self.holder.update(tickets=list(self.leases.ids))
        return t

    def _close(self, tid: int) -> None:
        if tid in self.leases.ids:
            self.leases.ids.remove(tid)
        with contextlib.suppress(ClientError, ServerUnreachable):
            self.client.close_ticket(tid)
        if self.holder is not None:
            self.holder.update(tickets=list(self.leases.ids))

    def reserve(self, req: Request, limits: Limits, info: dict[str, object]) -> Choice:
        """Gate, node, slots; raises Unavailable (busy, impossible) after closing what it opened."""
        everything = _topology([s for _, s in host_slots(self.client, self.host)])
        all_cores = frozenset(c.id for c in everything.cores)
        all_nics = frozenset(n.name for n in everything.nics)
        if not possible(everything, all_cores, all_nics, req):
            raise Unavailable(
                f"the pools of {self.host} on {self.server} cannot ever give {req.cores} cores "
                f"and {req.nics} NICs{' on one NUMA node' if req.same_node else ''} "
                f"(they have {len(all_cores)} cores, {len(all_nics)} NICs; "
                f"see `lessor hw pools --host {self.host}`)",
                EXIT_IMPOSSIBLE,
            )
        self.holder = HolderFile(self.state_dir, {**info, "server": self.server, "tickets": []})
        started = time.monotonic()
        told = False

        def give_up_or_wait() -> None:
            """Busy: exit, or say once who holds the hardware and keep waiting."""
            nonlocal told
            waited = time.monotonic() - started
            timeout = limits.wait_timeout
            if limits.no_wait or (timeout is not None and waited >= timeout):
                what = describe_holders(self.client, self.host, self.state_dir)
                raise Unavailable(f"busy: {what}", EXIT_BUSY)
            if not told:
                what = describe_holders(self.client, self.host, self.state_dir)
                print(f"lessor hw: waiting; {what}", file=sys.stderr)
                told = True

        gate = self._open([GATE_TAG, host_tag(self.host)])
        try:
            while gate.state == "OPEN":
                self._free_dead_holders()
                give_up_or_wait()
                left = 1.0
                if limits.wait_timeout is not None:
                    left = min(left, max(0.0, limits.wait_timeout - time.monotonic() + started))
                gate = self.client.get_ticket(gate.id, wait=left or 0.01)
            if gate.state != "ASSIGNED":
                raise Unavailable(f"gate ticket {gate.id}: {gate.message}", EXIT_BUSY)
            # We hold the gate: nobody else takes this host's slots until we give it back.
            while True:
                free = _topology([s for r, s in host_slots(self.client, self.host) if is_free(r)])
                pick = choose(free, all_cores, all_nics, frozenset(), frozenset(), req)
                if pick is not None:
                    break
                self._free_dead_holders()
                give_up_or_wait()
                time.sleep(POLL)
            return self._take(pick, req)
        except BaseException:
            for tid in list(self.leases.ids):
                self._close(tid)
            raise
        finally:
            self._close(gate.id)

    def _take(self, pick: Choice, req: Request) -> Choice:
        base = [HW_TAG, host_tag(self.host)]
        opened = [self._open([*base, f"node={c.node}", "core"]) for c in pick.cores]
        opened += [self._open([*base, f"node={n.node}", "nic"]) for n in pick.nics]
        got: list[Core | Nic] = []
        for first in opened:
            t = first
            while t.state == "OPEN":  # only if someone outside lessor hw took a slot
                t = self.client.get_ticket(t.id, wait=5)
            slot = slot_of(t) if t.state == "ASSIGNED" else None
            if slot is None:
                raise Unavailable(f"ticket {t.id} {t.state}: {t.message}", EXIT_BUSY)
            got.append(slot)
        cores = tuple(s for s in got if isinstance(s, Core))
        nics = tuple(s for s in got if isinstance(s, Nic))
        cpus = tuple(sorted(cpu for c in cores for cpu in c.cpus))
        if req.smt:
            cpus = cpus[: req.cores]
        nodes = {s.node for s in got}
        choice = Choice(cores, cpus, nics, nodes.pop() if len(nodes) == 1 else None)
        assert self.holder is not None
        self.holder.update(cpus=list(cpus), nic_names=[n.name for n in nics])
        return choice

    def _free_dead_holders(self) -> None:
        """Close the tickets of holders on this machine that died, rather than wait for leases."""
        for path, info, alive in read_holders(self.state_dir):
            if alive or info.get("server") != self.server:
                continue
            for tid in ticket_ids(info):
                with contextlib.suppress(ClientError, ServerUnreachable):
                    self.client.close_ticket(tid)
            with contextlib.suppress(OSError):
                os.unlink(path)

    def release(self) -> None:
        """Close every ticket now; what a dead server misses, the leases end."""
        self.leases.stop()
        for tid in list(self.leases.ids):
            self._close(tid)
        if self.holder is not None:
            self.holder.remove()
        self.client.close()


def holder_tickets(client: LessorClient, host: str) -> tuple[list[TicketOut], list[TicketOut]]:
    """(assigned, open) tickets of this host's pools, oldest first."""
    mine = {host_tag(host)}
    tickets = [t for t in client.tickets(["OPEN", "ASSIGNED"]) if mine <= set(t.tags)]
    tickets.sort(key=lambda t: t.id)
    return [t for t in tickets if t.state == "ASSIGNED"], [t for t in tickets if t.state == "OPEN"]


def describe_holders(client: LessorClient, host: str, state_dir: str) -> str:
    assigned, _ = holder_tickets(client, host)
    if not assigned:
        return "waiting for earlier requests in the queue"
    by_ticket = {
        tid: info for _, info, alive in read_holders(state_dir) if alive for tid in ticket_ids(info)
    }
    seen: set[int] = set()
    parts = []
    for t in assigned:
        info = by_ticket.get(t.id)
        if info is None:
            parts.append(f"ticket {t.id} (lease until {to_json(t)['expires_at'] or 'closed'})")
        elif id(info) not in seen:
            seen.add(id(info))
            parts.append(f"{info.get('user')} pid {info.get('pid')} ({info.get('command')})")
    return "held by " + "; ".join(parts)
