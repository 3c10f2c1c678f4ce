"""`lessor hw status --server`: this host's slots, reservations and waiters, as the server sees.

The server knows tickets; the reservation files of this machine add who they
are (user, pid, command). A ticket without a file was taken from elsewhere,
or its process died: its lease end says when it is freed at the latest.
"""

from __future__ import annotations

import json

from lessor.client.http import LessorClient
from lessor.client.models import TicketOut, to_json
from lessor.hw.lab import host_slots, is_free, kind_of, reserved_tickets, slot_of
from lessor.hw.lab_pools import GATE_TAG
from lessor.hw.lab_reservations import read_reservations, ticket_ids
from lessor.hw.topology import Core, Gpu, Nic
from lessor.hw.words import amount, listing

KINDS = (("core", "cores"), ("nic", "nics"), ("gpu", "gpus"))


def status(client: LessorClient, host: str, state_dir: str, as_json: bool) -> int:
    slots = host_slots(client, host)
    assigned, waiting = reserved_tickets(client, host)
    local = [(info, alive) for _, info, alive in read_reservations(state_dir)]
    owner = {tid: info for info, alive in local if alive for tid in ticket_ids(info)}
    reservations = [_line(t, owner.get(t.id)) for t in assigned if GATE_TAG not in t.tags]
    waiters = [_line(t, owner.get(t.id)) for t in waiting if GATE_TAG in t.tags]
    gate = [_line(t, owner.get(t.id)) for t in assigned if GATE_TAG in t.tags]
    counts: dict[str, int] = {}
    for kind, plural in KINDS:
        mine = [r for r, s in slots if kind_of(s) == kind]
        counts[plural] = len(mine)
        counts[f"free_{plural}"] = sum(is_free(r) for r in mine)
    summary = {
        "server": client.server,
        "host": host,
        "slots": counts,
        "reservations": reservations,
        "choosing": gate,
        "waiters": waiters,
    }
    if as_json:
        print(json.dumps(summary, indent=2))
        return 0
    print(f"server {client.server}, host {host}:")
    said = [f"{amount(counts[k], k)} ({counts[f'free_{k}']} free)" for _, k in KINDS if counts[k]]
    print(f"  {listing(said) or 'no slots'}")
    print(f"reservations ({amount(len(reservations), 'ticket')}):")
    for r in reservations:
        print(f"  {_text(r)}")
    for r in gate:
        print(f"  choosing its NUMA node (the gate): {_text(r)}")
    print(f"waiters ({len(waiters)}), first come first served:")
    for r in waiters:
        print(f"  {_text(r)}")
    return 0


def _line(ticket: TicketOut, info: dict[str, object] | None) -> dict[str, object]:
    slot = slot_of(ticket)
    what = ""
    if isinstance(slot, Core):
        what = f"cpus {','.join(str(c) for c in slot.cpus)}"
    elif isinstance(slot, Nic):
        what = f"nic {slot.name} ({slot.pci})"
    elif isinstance(slot, Gpu):
        what = f"gpu {slot.pci} ({slot.vendor})"
    return {
        "ticket": ticket.id,
        "slot": what,
        "lease_until": to_json(ticket)["expires_at"],
        "user": info.get("user") if info else None,
        "pid": info.get("pid") if info else None,
        "command": info.get("command") if info else None,
    }


def _text(r: dict[str, object]) -> str:
    who = (
        f"{r['user']} pid {r['pid']}: {r['command']}"
        if r["pid"] is not None
        else "no reservation file on this machine"
    )
    slot = f" {r['slot']}" if r["slot"] else ""
    return f"ticket {r['ticket']}{slot} - {who} (lease until {r['lease_until']})"
