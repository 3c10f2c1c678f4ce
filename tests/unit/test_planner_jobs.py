"""Jobs: every part granted at once or none; a waiting job takes nothing and is not starved."""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence

from tests.unit.planner_data import NOW, pool, res, run, ticket

from lessor.domain.model import Pool, Resource, Snapshot, Ticket
from lessor.domain.states import ResourceState as R
from lessor.domain.states import TicketState as T
from lessor.planner.actions import Assign, FailTicket, GrantJob, Plan, Start
from lessor.planner.jobs import beyond_max
from lessor.planner.plan import plan

POOLS = [pool("a", "a", max=1, max_prealloc=1), pool("b", "b", max=1, max_prealloc=1)]


def part(tid: int, job: int, name: str, *tags: str, **kw: object) -> Ticket:
    return ticket(tid, *tags, job_id=job, part=name, **kw)


def grants(p: Plan) -> list[GrantJob]:
    return [a for a in p.actions if isinstance(a, GrantJob)]


def singles(p: Plan) -> list[Assign]:
    return [a for a in p.actions if isinstance(a, Assign)]


def test_a_job_whose_parts_all_have_a_spare_is_granted_in_one_action() -> None:
    p = run(
        POOLS,
        [res(1, pool_name="a", tags=("a",)), res(2, pool_name="b", tags=("b",))],
        [part(5, 5, "x", "a"), part(6, 5, "y", "b")],
    )
    assert grants(p) == [GrantJob(5, (Assign(5, 1), Assign(6, 2)))]
    assert singles(p) == []


def test_a_job_missing_one_part_takes_nothing_and_says_why() -> None:
    p = run(
        POOLS, [res(1, pool_name="a", tags=("a",))], [part(5, 5, "x", "a"), part(6, 5, "y", "b")]
    )
    assert p.actions == () or not any(isinstance(a, (Assign, GrantJob)) for a in p.actions)
    assert "job 5 waits for part y" in p.reasons[5]
    assert "part x ready (resource 1 set aside)" in p.reasons[6]


def test_what_is_set_aside_for_a_waiting_job_is_not_taken_by_a_later_ticket() -> None:
    p = run(
        POOLS,
        [res(1, pool_name="a", tags=("a",))],
        [part(5, 5, "x", "a"), part(6, 5, "y", "b"), ticket(7, "a")],
    )
    assert singles(p) == [] and grants(p) == []


def test_an_earlier_ticket_is_served_before_a_later_job() -> None:
    p = run(
        POOLS,
        [res(1, pool_name="a", tags=("a",)), res(2, pool_name="b", tags=("b",))],
        [ticket(4, "a"), part(5, 5, "x", "a"), part(6, 5, "y", "b")],
    )
    assert singles(p) == [Assign(4, 1)] and grants(p) == []


def test_parts_are_matched_as_a_whole_not_greedily() -> None:
    """Part x fits both resources, part y only the first: a greedy pick for x would leave y
    nothing; a matching grants both."""
    both = [pool("p", "a", "b", max=2), pool("q", "a", max=1)]
    p = run(
        both,
        [res(1, pool_name="p", tags=("a", "b")), res(2, pool_name="q", tags=("a",))],
        [part(5, 5, "x", "a"), part(6, 5, "y", "b")],
    )
    (g,) = grants(p)
    assert set(g.parts) == {Assign(5, 2), Assign(6, 1)}


def test_the_plan_of_jobs_does_not_depend_on_the_order_of_the_snapshot() -> None:
    rs = [res(i, pool_name=n, tags=(n,)) for i, n in ((1, "a"), (2, "b"))]
    ts = [part(5, 5, "x", "a"), part(6, 5, "y", "b"), part(7, 7, "x", "b"), part(8, 7, "y", "a")]
    first = run(POOLS, rs, ts)
    for order in itertools.permutations(ts):
        assert run(POOLS, rs, list(order)).actions == first.actions


# ---- a tiny world over time: plans applied, tickets closed, resources given back ----


class World:
    """Resources that are UP or TAKEN, tickets that arrive, are served and close; the
    planner's hand-outs applied as the store would (a GrantJob wholly)."""

    def __init__(self, pools: Sequence[Pool], resources: Sequence[Resource]) -> None:
        self.pools = list(pools)
        self.resources = {r.id: r for r in resources}
        self.tickets: dict[int, Ticket] = {}
        self.now = NOW
        self.granted_at: dict[int, float] = {}
        self.served: list[int] = []
        """Ticket ids in the order they got a resource."""

    def add(self, t: Ticket) -> None:
        self.tickets[t.id] = t.evolve(created_at=self.now)

    def step(self) -> Plan:
        p = run(
            self.pools, list(self.resources.values()), list(self.tickets.values()), now=self.now
        )
        for a in p.actions:
            handed = a.parts if isinstance(a, GrantJob) else (a,) if isinstance(a, Assign) else ()
            for g in handed:
                assert self.resources[g.resource_id].state is R.UP, "taken twice"
                self.resources[g.resource_id] = self.resources[g.resource_id].evolve(
                    state=R.TAKEN, ticket_id=g.ticket_id
                )
                self.served.append(g.ticket_id)
                self.tickets[g.ticket_id] = self.tickets[g.ticket_id].evolve(
                    state=T.ASSIGNED, resource_id=g.resource_id, assigned_at=self.now
                )
            if isinstance(a, GrantJob):
                self.granted_at[a.job_id] = self.now
        self.check_no_part_of_a_waiting_job_holds_anything()
        self.now += 1
        return p

    def close(self, ticket_id: int) -> None:
        t = self.tickets.pop(ticket_id)
        if t.resource_id is not None:  # given back at once (a spare again)
            self.resources[t.resource_id] = self.resources[t.resource_id].evolve(
                state=R.UP, ticket_id=None
            )

    def check_no_part_of_a_waiting_job_holds_anything(self) -> None:
        for t in self.tickets.values():
            if t.job_id is None:
                continue
            siblings = [s for s in self.tickets.values() if s.job_id == t.job_id]
            states = {s.state for s in siblings}
            assert states in ({T.OPEN}, {T.ASSIGNED}), f"job {t.job_id} partly granted"


def test_two_jobs_that_would_deadlock_one_by_one_both_finish_in_every_arrival_order() -> None:
    """Job 1 wants a then b, job 2 b then a; one each of a and b. Acquired one by one, job 1
    would hold a and wait for b while job 2 holds b and waits for a, for ever."""
    jobs = {1: [("first", "a"), ("second", "b")], 2: [("first", "b"), ("second", "a")]}
    for order in itertools.permutations(jobs):
        w = World(POOLS, [res(1, pool_name="a", tags=("a",)), res(2, pool_name="b", tags=("b",))])
        next_id = 10
        job_ids = []
        for j in order:
            job_id = next_id
            for name, tag in jobs[j]:
                w.add(part(next_id, job_id, name, tag))
                next_id += 1
            job_ids.append(job_id)
        finished: list[int] = []
        for _ in range(10):
            w.step()
            for job_id in list(w.granted_at):
                if job_id not in finished:
                    finished.append(job_id)
                    for t in [t for t in w.tickets.values() if t.job_id == job_id]:
                        w.close(t.id)
        assert finished == job_ids  # both, in arrival order


def test_a_job_needing_all_of_a_pool_is_granted_under_a_steady_stream_of_single_tickets() -> None:
    """The fairness rule (docs/policy.md, "Jobs"): a job that needs a pool's whole `max` is
    granted once the tickets ahead of it are served and end; no ticket that came after it
    overtakes it, however many come."""
    hold = 3  # every single ticket keeps its resource this many steps
    w = World([pool("p", "x", max=2, max_prealloc=2)], [res(1), res(2)])
    rng = random.Random(7)
    ids = itertools.count(100)
    closing: dict[int, float] = {}
    job_id = None
    for step in range(40):
        w.add(ticket(next(ids), "x"))  # a single ticket every step, for ever
        if step == 5:
            job_id = next(ids)
            w.add(part(job_id, job_id, "one", "x"))
            w.add(part(next(ids), job_id, "two", "x"))
        w.step()
        for t in w.tickets.values():
            if t.state is T.ASSIGNED and t.job_id is None and t.id not in closing:
                closing[t.id] = w.now + hold + rng.random()
        for tid, at in list(closing.items()):
            if at <= w.now:
                del closing[tid]
                w.close(tid)
    assert job_id is not None and job_id in w.granted_at
    before = w.served[: w.served.index(job_id)]
    assert before and all(tid < job_id for tid in before)  # none that came later
    ahead = len(before) - 2  # the two served before it arrived held the pool then
    # the pool serves 2 at a time, each for at most hold + 1 steps: the bound
    waited = w.granted_at[job_id] - (NOW + 5)
    assert waited <= (ahead // 2 + 2) * (hold + 1)


def test_over_random_worlds_a_job_is_granted_whole_or_not_at_all() -> None:
    """Random pools, resources, tickets and jobs: a part never gets a resource on its own,
    a grant covers every part of its job, and no resource goes out twice."""
    rng = random.Random(19)
    for _ in range(300):
        pools = [pool(n, n, max=rng.randint(0, 3)) for n in ("a", "b", "c")]
        resources = [
            res(i, rng.choice((R.UP, R.UP, R.STARTING)), pool_name=n, tags=(n,))
            for i, n in enumerate(rng.choices("abc", k=rng.randint(0, 6)), start=1)
        ]
        tickets: list[Ticket] = []
        next_id = 1
        for _ in range(rng.randint(0, 6)):
            if rng.random() < 0.5:
                tickets.append(ticket(next_id, rng.choice("abc")))
                next_id += 1
                continue
            job_id = next_id
            for k in range(rng.randint(1, 3)):
                tickets.append(part(next_id, job_id, f"p{k}", rng.choice("abc")))
                next_id += 1
        p = run(pools, resources, tickets)
        job_of = {t.id: t.job_id for t in tickets}
        given: list[int] = []
        for a in p.actions:
            if isinstance(a, Assign):
                assert job_of[a.ticket_id] is None, "a part assigned alone"
                given.append(a.resource_id)
            elif isinstance(a, GrantJob):
                wanted = {t.id for t in tickets if t.job_id == a.job_id}
                assert {g.ticket_id for g in a.parts} == wanted
                given += [g.resource_id for g in a.parts]
        assert len(given) == len(set(given)), "a resource given twice"


def test_a_quota_holds_back_its_owners_tickets_and_jobs_only() -> None:
    quotas = {"ann": {"a": 1}}
    rs = [res(i, pool_name="a", tags=("a",)) for i in (1, 2, 3)]
    held = res(4, R.TAKEN, pool_name="a", tags=("a",), ticket_id=1)
    ts = [
        ticket(1, "a", state=T.ASSIGNED, resource_id=4, owner="ann"),
        ticket(2, "a", owner="ann"),
        part(3, 3, "x", "a", owner="ann"),
        ticket(5, "a", owner="ben"),
    ]
    pools = [pool("a", "a", max=4, max_prealloc=0)]
    p = plan(Snapshot(NOW, tuple(pools), (*rs, held), tuple(ts), quotas=quotas))
    assert singles(p) == [Assign(5, 1)] and grants(p) == []
    assert p.reasons[2] == "quota: 1/1 resources held in pool a"
    assert p.reasons[3] == "job 3: quota: 1/1 resources held in pool a"


def test_a_job_needing_more_than_a_pools_max_fails_once_rather_than_wait_for_ever() -> None:
    """Pools changed by a reload: three parts on a pool of max 2, no other pool serves them."""
    parts = [part(5, 5, "x", "a"), part(6, 5, "y", "a"), part(7, 5, "z", "a")]
    two = [pool("a", "a", max=2, max_prealloc=0)]
    p = run(two, [res(1, pool_name="a", tags=("a",))], parts)
    (failed,) = [a for a in p.actions if isinstance(a, FailTicket)]
    assert failed.ticket_id == 5
    assert "part z: pool a has max 2, and 3 parts of the job (x, y, z)" in failed.message
    assert grants(p) == [] and not [a for a in p.actions if isinstance(a, Start)]
    assert 5 not in p.reasons  # it no longer waits, so nothing is set aside for it
    gone = run([pool("b", "b")], [], parts).actions  # pool a removed by a reload
    assert [a for a in gone if isinstance(a, FailTicket)] == [
        FailTicket(5, "job 5 can never be served: part x: no pool provides tag 'a'")
    ]
    three = [pool("a", "a", max=2, max_prealloc=0), pool("b", "a", max=1, max_prealloc=0)]
    assert not [a for a in run(three, [], parts).actions if isinstance(a, FailTicket)]


def test_beyond_max_names_the_part_and_the_limits() -> None:
    pools = [pool("a", "a", max=2), pool("b", "b", max=1)]
    assert beyond_max(pools, {"x": ["a"], "y": ["a"], "z": ["b"]}) is None
    assert beyond_max(pools, {"x": ["a"], "y": ["b"], "z": ["b"]}) == (
        "z",
        "pool b has max 1, and 2 parts of the job (y, z) need one each at once",
    )
    assert beyond_max(pools, {"x": ["gpu"]}) is None  # no pool at all: unservable_tags says so
    assert beyond_max([pool("a", "a", max=0)], {"x": ["a"]}) == (
        "x",
        "pool a has max 0, and 1 parts of the job (x) need one each at once",
    )
