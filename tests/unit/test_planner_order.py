"""The plan never depends on the order of the snapshot, and never breaks a limit (random data)."""

from __future__ import annotations

import random
from collections import Counter

from tests.unit.planner_data import NOW, of, pool, res, run, ticket

from lessor.domain.model import Pool, Resource, Tag, Ticket
from lessor.domain.states import LIVE_RESOURCE_STATES
from lessor.domain.states import ResourceState as R
from lessor.domain.states import TicketState as T
from lessor.planner.actions import (
    Assign,
    Delete,
    ExpireTicket,
    FailTicket,
    Livecheck,
    Plan,
    Recycle,
    Retire,
    Start,
)

TAGS = ("x", "y")


def random_world(rng: random.Random) -> tuple[list[Pool], list[Resource], list[Ticket]]:
    pools = [
        pool(
            name,
            Tag("x", rng.choice((0, 5))),
            *(("y",) if rng.random() < 0.5 else ()),
            max=rng.randint(0, 5),
            max_starting=rng.randint(0, 3),
            max_prealloc=rng.randint(0, 3),
            priority=rng.choice((0, 10)),
            drained=rng.random() < 0.15,
            idle_time=rng.choice((0, 100, 1000)),
            reuse_opportunity_time=rng.choice((0, 50)),
            cmd_livecheck="check",
            livecheck_period=60,
        )
        for name in ("a", "b", "c")[: rng.randint(1, 3)]
    ]
    tickets = []
    resources = []
    for i in range(1, rng.randint(1, 12)):
        p = rng.choice(pools)
        state = rng.choice(list(R))
        tid = None
        if state is R.TAKEN:
            tid = 100 + i
            tickets.append(ticket(tid, state=rng.choice((T.ASSIGNED, T.CLOSED)), resource_id=i))
        resources.append(
            res(
                i,
                state,
                pool_name=p.name,
                tags=tuple(sorted(t.name for t in p.tags)),
                age=rng.choice((1, 80, 500, 5000)),
                ticket_id=tid,
                sandbox=rng.choice((None, None, "s")),
                hold_reason=rng.choice((None, None, None, "held")),
                next_attempt_at=NOW - 1,
            )
        )
    for j in range(1, rng.randint(1, 8)):
        tags = rng.choice((("x",), ("x", "y"), ("y",)))
        tickets.append(
            ticket(j, *tags, priority=rng.choice((0, 0, 3)), sandbox=rng.choice((None, "s")))
        )
    return pools, resources, tickets


def normal(p: Plan) -> Counter[str]:
    return Counter(repr(a) for a in p.actions)


def test_any_order_of_resources_and_tickets_gives_the_same_plan() -> None:
    rng = random.Random(4)
    for _ in range(40):
        pools, resources, tickets = random_world(rng)
        expected = run(pools, resources, tickets)
        for _ in range(6):
            rs, ts = list(resources), list(tickets)
            rng.shuffle(rs)
            rng.shuffle(ts)
            again = run(pools, rs, ts)
            assert normal(again) == normal(expected)
            assert again.reasons == expected.reasons


def test_random_worlds_never_break_a_rule() -> None:
    rng = random.Random(7)
    for _ in range(400):
        pools, resources, tickets = random_world(rng)
        p = run(pools, resources, tickets)
        by_id = {r.id: r for r in resources}
        pools_by_name = {x.name: x for x in pools}
        assigned = of(p, Assign)
        assert len({a.resource_id for a in assigned}) == len(assigned)
        assert len({a.ticket_id for a in assigned}) == len(assigned)
        for a in assigned:
            r = by_id[a.resource_id]
            assert r.state is R.UP and not r.held and not pools_by_name[r.pool].drained
        for a in p.actions:
            if isinstance(a, Retire | Delete | Livecheck | Recycle | Assign):
                assert not by_id[a.resource_id].held, a
        live = Counter(r.pool for r in resources if r.state in LIVE_RESOURCE_STATES)
        starting = Counter(r.pool for r in resources if r.state is R.STARTING)
        for name, n in Counter(s.pool for s in of(p, Start)).items():
            pl = pools_by_name[name]
            assert not pl.drained
            assert live[name] + n <= pl.max
            assert starting[name] + n <= pl.max_starting
        served = {a.ticket_id for a in assigned}
        ended = {a.ticket_id for a in p.actions if isinstance(a, FailTicket | ExpireTicket)}
        waiting = {t.id for t in tickets if t.state is T.OPEN} - served - ended
        assert set(p.reasons) == waiting
