"""What `lessor hw topology` and `lessor hw status` print, as text or JSON."""

from __future__ import annotations

import json
import time
from dataclasses import asdict

from lessor.hw import protocol as p
from lessor.hw.config import Reservable
from lessor.hw.state import Reservation, State
from lessor.hw.topology import Gpu, Topology
from lessor.hw.usage import WINDOWS, busy_fraction, intervals, reservations_average
from lessor.hw.words import amount, listing

KINDS = ("cores", "nics", "gpus")


def topology(topo: Topology, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"nodes": list(topo.nodes), **asdict(topo)}, indent=2))
        return
    for node in topo.nodes:
        cores = [c for c in topo.cores if c.node == node]
        nics = [n for n in topo.nics if n.node == node]
        gpus = [g for g in topo.gpus if g.node == node]
        have = [amount(len(x), k) for x, k in ((cores, "cores"), (nics, "nics"), (gpus, "gpus"))]
        print(f"node {node}: {', '.join(h for h in have if not h.startswith('0 ')) or 'empty'}")
        for c in cores:
            print(f"  core {c.id}: cpus {','.join(str(x) for x in c.cpus)}")
        for n in nics:
            print(f"  nic {n.name}: {n.pci}")
        for g in gpus:
            print(f"  gpu {g.pci}: {gpu_text(g)}")


def gpu_text(g: Gpu) -> str:
    """'nvidia 0x2330 #0, NVIDIA H100, 81559 MiB, MIG off, GPU-…' (NVML's facts when known)."""
    facts = [f"{g.vendor} {g.device} #{g.index}"]
    facts += [g.name] if g.name else []
    facts += [f"{g.memory_mb} MiB"] if g.memory_mb is not None else []
    facts += [f"MIG {'on' if g.mig else 'off'}"] if g.mig is not None else []
    facts += [g.uuid] if g.uuid else []
    return ", ".join(facts)


def status(
    state: State, topo: Topology, reservable: Reservable, profiles: list[str], as_json: bool
) -> None:
    now = time.time()
    by_token: dict[str, Reservation] = {}
    unknown = 0
    for r in state.reservations().values():
        if r is None:
            unknown += 1  # another version's record, or one being written
        else:
            by_token.setdefault(r.token, r)
    waiters = state.waiters()
    spans = intervals(state.usage())
    capacity = {k: len(getattr(reservable, k)) for k in KINDS}
    util = {
        **{k: [busy_fraction(spans, k, capacity[k], w, now) for w in WINDOWS] for k in KINDS},
        **{
            f"profile {name}": [reservations_average(spans, name, w, now) for w in WINDOWS]
            for name in [*profiles, "-"]
        },
    }
    shown = [_reservation(r) for r in by_token.values()]
    if as_json:
        print(
            json.dumps(
                {
                    "reservations": shown,
                    "waiters": waiters,
                    "utilisation": util,
                    "reservable": capacity,
                },
                indent=2,
            )
        )
        return
    print(f"reservable: {listing([amount(capacity[k], k) for k in KINDS])}")
    print(f"reservations ({len(shown)}):")
    for r in by_token.values():
        since = time.strftime("%H:%M:%S", time.localtime(r.since))
        keys = _keys(r)
        what = [f"cpus {','.join(map(str, r.cpus))}"] if r.cpus else []
        what += [f"nics {','.join(keys['nic'])}"] if keys["nic"] else []
        what += [f"gpus {','.join(keys['gpu'])}"] if keys["gpu"] else []
        print(f"  {r.user} pid {r.pid} since {since}: {' '.join(what)} - {r.command[:200]}")
    if unknown:
        print(f"  ({amount(unknown, 'lock')} held with a record this lessor hw cannot read)")
    print(f"waiters ({len(waiters)}):")
    for w in waiters:
        print(f"  {w['user']} pid {w['pid']}: {w['command'][:200]}")
    print("utilisation over 1, 5, 15 min:")
    for name, values in util.items():
        per_cent = name in KINDS
        numbers = [f"{v * 100:.0f}%" if per_cent else f"{v:.2f}" for v in values]
        print(f"  {name:<20} {'  '.join(numbers)}")


def _keys(r: Reservation) -> dict[str, list[str]]:
    """Its core ids, NIC names and GPU addresses, from the names of its lock files."""
    return {k: [_key(u) for u in r.units if p.lock_kind(u) == k] for k in ("core", "nic", "gpu")}


def _reservation(r: Reservation) -> dict[str, object]:
    keys = _keys(r)
    return {
        "user": r.user,
        "pid": r.pid,
        "since": r.since,
        "token": r.token,
        "profile": r.profile,
        "command": r.command,
        "cores": len(keys["core"]),
        "nics": len(keys["nic"]),
        "gpus": len(keys["gpu"]),
        "cpus": list(r.cpus),
        "nic_names": keys["nic"],
        "gpu_addresses": keys["gpu"],
    }


def _key(lock: str) -> str:
    """'nic-eth0.lock' -> 'eth0'."""
    return lock.partition("-")[2].removesuffix(".lock")
