"""Candidate queries and capacity writes on 10,000 providers (issue 18's data set).

10,000 providers (VCPU 64 x16, MEMORY_MB 262,144 x1.5, DISK_GB 4,000), 10 % with
HW_CPU_X86_AVX2, 5 % with CUSTOM_MAINT, half with one consumer using 4/8192/40, in a
SQLite database through the capacity service; then the median of five queries (no
limit, limit=1000, limit=10, required=HW_CPU_X86_AVX2, required=!CUSTOM_MAINT), split
into the snapshot read and the search, and the write rates of the set-up.

Baseline: the issue asks for real Placement (openstack-placement, SQLite, one gunicorn
worker) on the same data in the same run. This bench does not run it yet; the ratio it
prints is against the pure search alone over the same snapshot (the floor no store can
beat), so a slower store shows as a larger ratio.

    .venv/bin/python bench/candidates.py [--providers N] [--runs R]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from lessor.domain import candidates as search
from lessor.domain.capacity import ConsumerWrite, Inventory
from lessor.service.capacity import CapacityService
from lessor.store.capacity import SqlCapacityStore
from lessor.store.sql import SqlStore

QUERIES = {
    "no limit": {"resources": ["VCPU:2,MEMORY_MB:4096,DISK_GB:20"]},
    "limit=1000": {"resources": ["VCPU:2,MEMORY_MB:4096,DISK_GB:20"], "limit": ["1000"]},
    "limit=10": {"resources": ["VCPU:2,MEMORY_MB:4096,DISK_GB:20"], "limit": ["10"]},
    "required=HW_CPU_X86_AVX2": {
        "resources": ["VCPU:2,MEMORY_MB:4096,DISK_GB:20"],
        "required": ["HW_CPU_X86_AVX2"],
    },
    "required=!CUSTOM_MAINT": {
        "resources": ["VCPU:2,MEMORY_MB:4096,DISK_GB:20"],
        "required": ["!CUSTOM_MAINT"],
    },
}
INVENTORY = {
    "VCPU": Inventory(64, allocation_ratio=16.0),
    "MEMORY_MB": Inventory(262_144, allocation_ratio=1.5),
    "DISK_GB": Inventory(4_000),
}


def populate(service: CapacityService, n: int) -> dict[str, float]:
    """The data set, and the rate of each kind of write (per second)."""
    store = service.store
    service.add_custom("trait", "CUSTOM_MAINT")
    uuids = [str(uuid.uuid4()) for _ in range(n)]
    rates = {}
    start = time.perf_counter()
    for i, u in enumerate(uuids):
        store.create_provider(u, f"cn{i:05}", None)
    rates["provider writes/s"] = n / (time.perf_counter() - start)
    start = time.perf_counter()
    for u in uuids:
        store.set_inventories(u, 0, INVENTORY)
    rates["inventory writes/s"] = n / (time.perf_counter() - start)
    for i, u in enumerate(uuids):
        traits = (["HW_CPU_X86_AVX2"] if i % 10 == 0 else []) + (
            ["CUSTOM_MAINT"] if i % 20 == 1 else []
        )
        if traits:
            store.set_traits(u, None, traits)
    start = time.perf_counter()
    half = uuids[::2]
    for u in half:
        amounts = {"VCPU": 4, "MEMORY_MB": 8192, "DISK_GB": 40}
        service.write_allocations([ConsumerWrite(str(uuid.uuid4()), {u: amounts}, "p", "u", None)])
    rates["allocation writes/s"] = len(half) / (time.perf_counter() - start)
    return rates


def median_of(runs: int, fn: object) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--providers", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sql = SqlStore.connect(f"sqlite:///{Path(tmp) / 'bench.sqlite'}")
        service = CapacityService(SqlCapacityStore(sql.transactions))
        for what, rate in populate(service, args.providers).items():
            print(f"{what:28} {rate:10.0f}")
        states = service.states()
        snapshot = median_of(args.runs, service.states)
        print(f"{'snapshot read (s)':28} {snapshot:10.3f}")
        print(f"{'query':28} {'lessor (s)':>10} {'search (s)':>10} {'ratio':>6} {'found':>6}")
        for name, query in QUERIES.items():
            request = search.parse_request(query)
            whole = median_of(args.runs, lambda r=request: service.candidates(r))
            alone = median_of(args.runs, lambda r=request: search.search(states, r))
            found = len(search.search(states, request).allocation_requests)
            print(f"{name:28} {whole:10.3f} {alone:10.3f} {whole / alone:6.1f} {found:6}")
        sql.transactions.close()
        sql.close()


if __name__ == "__main__":
    main()
