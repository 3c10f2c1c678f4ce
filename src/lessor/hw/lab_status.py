"""`lessor hw status --server`: this host's slots, holders and waiters, as the server sees them.

The server knows tickets; the holder files of this machine add who they are
(user, pid, command). A ticket without a file was taken from elsewhere, or
its holder died: its lease end says when it is freed at the latest.
"""

from __future__ import annotations

import json

from lessor.client.http import LessorClient
from lessor.client.models import TicketOut, to_json
from lessor.hw.lab import holder_tickets, host_slots, is_free, slot_of
from lessor.hw.lab_holders import read_holders, ticket_ids
from lessor.hw.lab_pools import GATE_TAG
from lessor.hw.topology import Core


def status(client: LessorClient, host: str, state_dir: str, as_json: bool) -> int:
    slots = host_slots(client, host)
    cores = [r for r, s in slots if isinstance(s, Core)]
    nics = [r for r, s in slots if not isinstance(s, Core)]
    assigned, waiting = holder_tickets(client, host)
    local = [(info, alive) for _, info, alive in read_holders(state_dir)]
    owner = {tid: info for info, alive in local if alive for tid in ticket_ids(info)}
    holders = [_holder(t, owner.get(t.id)) for t in assigned if GATE_TAG not in t.tags]
    waiters = [_holder(t, owner.get(t.id)) for t in waiting if GATE_TAG in t.tags]
    gate = [_holder(t, owner.get(t.id)) for t in assigned if GATE_TAG in t.tags]
    summary = {
        "server": client.server,
        "host": host,
        "slots": {
            "cores": len(cores),
            "nics": len(nics),
            "free_cores": sum(is_free(r) for r in cores),
            "free_nics": sum(is_free(r) for r in nics),
        },
        "holders": holders,
        "choosing": gate,
        "waiters": waiters,
    }
    if as_json:
        print(json.dumps(summary, indent=2))
        return 0
    s = summary["slots"]
    print(f"server {client.server}, host {host}:")
    print(
        f"  {s['cores']} cores ({s['free_cores']} free), "  # type: ignore[index]
        f"{s['nics']} NICs ({s['free_nics']} free)"  # type: ignore[index]
    )
    print(f"holders ({len(holders)} tickets):")
    for h in holders:
        print(f"  {_line(h)}")
    for h in gate:
        print(f"  choosing its NUMA node (the gate): {_line(h)}")
    print(f"waiters ({len(waiters)}), first come first served:")
    for h in waiters:
        print(f"  {_line(h)}")
    return 0


def _holder(ticket: TicketOut, info: dict[str, object] | None) -> dict[str, object]:
    slot = slot_of(ticket)
    what = ""
    if isinstance(slot, Core):
        what = f"cpus {','.join(str(c) for c in slot.cpus)}"
    elif slot is not None:
        what = f"nic {slot.name} ({slot.pci})"
    return {
        "ticket": ticket.id,
        "slot": what,
        "lease_until": to_json(ticket)["expires_at"],
        "user": info.get("user") if info else None,
        "pid": info.get("pid") if info else None,
        "command": info.get("command") if info else None,
    }


def _line(h: dict[str, object]) -> str:
    who = (
        f"{h['user']} pid {h['pid']}: {h['command']}"
        if h["pid"] is not None
        else "no holder on this machine"
    )
    slot = f" {h['slot']}" if h["slot"] else ""
    return f"ticket {h['ticket']}{slot} - {who} (lease until {h['lease_until']})"
