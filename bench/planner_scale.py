"""One planning pass at scale: 10 k resources / 1 k open tickets and 100 k / 10 k, 100 pools.

Builds a synthetic snapshot (most resources taken by active tickets, some ready,
some starting, some ready only for their sandbox; tickets asking for one pool's
tag, a tag several pools share, or a tag no pool offers) and times `plan()` on
it (the median of --repeat passes). The matching of ready resources to tickets
is also timed against the straightforward reference (`planner/reference.py`,
tickets x resources) on the same snapshot, and the ratio printed. Prints figures; asserts nothing.

    .venv/bin/python bench/planner_scale.py [--repeat 5] [--skip-reference]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable

from lessor.domain.model import Pool, Resource, Snapshot, Tag, Ticket
from lessor.domain.states import ResourceState, TicketState
from lessor.planner.assign import assign
from lessor.planner.plan import plan, queue_order
from lessor.planner.reference import reference_assign
from lessor.planner.view import View

POOLS = 100
NOW = 1_000_000.0


def snapshot(resources: int, open_tickets: int, seed: int = 1) -> Snapshot:
    rnd = random.Random(seed)
    pools = tuple(
        Pool(
            name=f"p{i:03d}",
            max=resources // POOLS + 50,
            max_starting=10,
            max_prealloc=5,
            tags=(Tag(f"os{i:03d}"), Tag(f"arch{i % 4}", priority=i % 7)),
            priority=i % 3,
            reuse_max_time=0.0,
            reuse_opportunity_time=60.0,
        )
        for i in range(POOLS)
    )
    rs: list[Resource] = []
    ts: list[Ticket] = []
    for n in range(resources):
        pool = pools[n % POOLS]
        tags = tuple(t.name for t in pool.tags)
        roll = rnd.random()
        common = {"id": n + 1, "pool": pool.name, "name": f"r{n}", "tags": tags}
        if roll < 0.80:  # taken by an active ticket
            tid = 1_000_000 + n
            sandbox = f"sb{rnd.randrange(2000)}"
            ts.append(Ticket(tid, tags=tags, state=TicketState.OPEN, sandbox=sandbox))
            ts[-1] = ts[-1].evolve(state=TicketState.ASSIGNED, resource_id=n + 1)
            rs.append(Resource(**common, state=ResourceState.TAKEN, ticket_id=tid, sandbox=sandbox))
        elif roll < 0.90:  # ready, reusable only in its sandbox
            rs.append(
                Resource(
                    **common,
                    state=ResourceState.UP,
                    sandbox=f"sb{rnd.randrange(2000)}",
                    releases=1,
                    state_since=NOW - 1,
                )
            )
        elif roll < 0.97:  # a ready spare
            rs.append(Resource(**common, state=ResourceState.UP, state_since=NOW - 1))
        else:
            rs.append(Resource(**common, state=ResourceState.STARTING, created_at=NOW - 5))
    for k in range(open_tickets):
        roll = rnd.random()
        if roll < 0.6:
            tags: tuple[str, ...] = (f"os{rnd.randrange(POOLS):03d}",)
        elif roll < 0.95:
            tags = (f"arch{rnd.randrange(4)}",)
        else:
            tags = ("gpu",)  # no pool offers it: it waits, with a reason
        ts.append(
            Ticket(
                k + 1,
                tags=tags,
                state=TicketState.OPEN,
                sandbox=f"sb{rnd.randrange(2000)}",
                priority=rnd.choice((0, 0, 0, 5)),
            )
        )
    return Snapshot(now=NOW, pools=pools, resources=tuple(rs), tickets=tuple(ts))


def timed(f: Callable[[], object], repeat: int) -> float:
    """The median of `repeat` runs: the machine is shared, so one run says little."""
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        f()
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs)


def measure(resources: int, tickets: int, repeat: int, reference: bool) -> str:
    s = snapshot(resources, tickets)
    queue = queue_order(t for t in s.tickets if t.state is TicketState.OPEN)
    v = View.of(s, frozenset(t.id for t in queue))
    whole = timed(lambda: plan(s), repeat)
    indexed = timed(lambda: assign(v, queue).actions, repeat)
    line = (
        f"{resources:>7} resources {tickets:>6} open tickets {POOLS} pools: "
        f"pass {whole * 1000:8.1f} ms, matching {indexed * 1000:7.1f} ms"
    )
    if reference:
        t0 = time.perf_counter()
        expected = list(reference_assign(v, queue))
        ref = time.perf_counter() - t0
        same = assign(v, queue).actions == expected
        line += f", reference matching {ref * 1000:9.1f} ms (x{ref / indexed:,.0f}, same={same})"
    return line


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--skip-reference", action="store_true")
    args = ap.parse_args()
    for resources, tickets in ((10_000, 1_000), (100_000, 10_000)):
        print(measure(resources, tickets, args.repeat, not args.skip_reference), flush=True)


if __name__ == "__main__":
    main()
