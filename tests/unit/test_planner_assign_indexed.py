"""The indexed matching hands out exactly what the straightforward one does.

planner/assign.py indexes ready resources by pool, tags and sandbox so that a
pass over 100 k resources does not match every ticket against every resource;
planner/reference.py is the rule written plainly. On random small snapshots
(pools with tag priorities, resources of every state, held, reserved for open
or gone tickets, in sandboxes, with tags their pool no longer offers; tickets
of mixed priorities and sandboxes) both give the same hand-outs in the same
order, and the whole plan built on the indexed one is unchanged by the
order of the snapshot. The same holds on richer snapshots (tests/unit/
planner_snapshots.py: every state, privileges, quotas, jobs, timed rules), and
the facts the rules share (planner/view.py: Facts, gathered in one pass over
tickets and one over resources) equal their plain definitions here.
"""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st
from tests.unit import planner_snapshots

from lessor.domain.model import Pool, Resource, Snapshot, Tag, Ticket
from lessor.domain.states import (
    ACTIVE_TICKET_STATES,
    LIVE_RESOURCE_STATES,
    ResourceState,
    TicketState,
)
from lessor.planner.actions import Assign, Plan
from lessor.planner.assign import assign
from lessor.planner.plan import plan, queue_order
from lessor.planner.reference import reference_assign
from lessor.planner.view import Facts, View

NOW = 1_000_000.0
TAGS = ("a", "b", "c", "d")
SANDBOXES = (None, "s1", "s2")


@st.composite
def snapshots(draw: st.DrawFn) -> Snapshot:
    pools = tuple(
        Pool(
            name=f"p{i}",
            tags=tuple(
                Tag(name, priority=draw(st.integers(-3, 3)))
                for name in draw(st.sets(st.sampled_from(TAGS), min_size=1))
            ),
            priority=draw(st.integers(0, 2)),
            drained=draw(st.booleans()) and draw(st.booleans()),
        )
        for i in range(draw(st.integers(1, 4)))
    )
    tickets = tuple(
        Ticket(
            id=tid,
            tags=tuple(sorted(draw(st.sets(st.sampled_from(TAGS), max_size=2)))),
            state=draw(st.sampled_from((TicketState.OPEN, TicketState.OPEN, TicketState.CLOSED))),
            sandbox=draw(st.sampled_from(SANDBOXES)),
            priority=draw(st.sampled_from((0, 0, 1))),
        )
        for tid in range(1, draw(st.integers(0, 12)) + 1)
    )
    resources = tuple(
        Resource(
            id=rid,
            pool=(p := draw(st.sampled_from(pools))).name,
            name=f"r{rid}",
            state=draw(st.sampled_from((ResourceState.UP,) * 3 + (ResourceState.STARTING,))),
            # Mostly the pool's tags; sometimes ones its pool no longer offers.
            tags=tuple(t.name for t in p.tags)
            if draw(st.booleans()) or draw(st.booleans())
            else tuple(sorted(draw(st.sets(st.sampled_from(TAGS))))),
            sandbox=(sandbox := draw(st.sampled_from(SANDBOXES))),
            releases=0 if sandbox is None else 1,
            hold_reason="held" if draw(st.integers(0, 9)) == 0 else None,
            livecheck_failures=1 if draw(st.integers(0, 9)) == 0 else 0,
            reserved_for=draw(st.one_of(st.none(), st.integers(1, 14))),
            state_since=NOW - 1,
        )
        for rid in draw(st.sets(st.integers(1, 40), max_size=16))
    )
    return Snapshot(now=NOW, pools=pools, resources=resources, tickets=tickets)


@settings(max_examples=400, deadline=None)
@given(snapshots())
def test_indexed_matching_decides_as_the_reference(s: Snapshot) -> None:
    queue = queue_order(t for t in s.tickets if t.state is TicketState.OPEN)
    v = View.of(s, frozenset(t.id for t in queue))
    assert assign(v, queue).actions == list(reference_assign(v, queue))


@settings(max_examples=150, deadline=None)
@given(snapshots(), st.randoms(use_true_random=False))
def test_plan_ignores_the_order_of_the_snapshot(s: Snapshot, rnd: object) -> None:
    shuffled = list(s.resources)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    one, other = plan(s), plan(Snapshot(s.now, s.pools, tuple(shuffled), s.tickets))
    assert hand_outs(one) == hand_outs(other)
    assert Counter(one.actions) == Counter(other.actions)


def hand_outs(p: Plan) -> list[Assign]:
    return [a for a in p.actions if isinstance(a, Assign)]


@settings(max_examples=300, deadline=None)
@given(planner_snapshots.snapshots(jobs=False))
def test_indexed_matching_decides_as_the_reference_with_owners(s: Snapshot) -> None:
    queue = queue_order(t for t in s.tickets if t.state is TicketState.OPEN)
    v = View.of(s, frozenset(t.id for t in queue))
    assert assign(v, queue).actions == list(reference_assign(v, queue))


@settings(max_examples=300, deadline=None)
@given(planner_snapshots.snapshots())
def test_shared_facts_are_their_plain_definitions(s: Snapshot) -> None:
    f = Facts(s)
    active = {t.id for t in s.tickets if t.state in ACTIVE_TICKET_STATES}
    assert f.active == active
    assert f.ended == {t.id: t for t in s.tickets if t.state not in ACTIVE_TICKET_STATES}
    assert f.leased == [t for t in s.tickets if t.id in active and t.expires_at is not None]
    assert f.open == [t for t in s.tickets if t.state is TicketState.OPEN]
    assert f.jobs == {
        j: [t for t in s.tickets if t.job_id == j] for j in {t.job_id for t in s.tickets} - {None}
    }
    for state in ResourceState:
        assert f.of_state(state) == [r for r in s.resources if r.state is state]
    taken = [r for r in s.resources if r.state is ResourceState.TAKEN]
    assert f.orphans == [r for r in taken if r.ticket_id not in active]
    checked = {p.name for p in s.pools if p.cmd_livecheck or p.cmd_extend}
    upkept = (ResourceState.UP, ResourceState.RELEASING, ResourceState.DELETE_REQUESTED)
    assert f.upkept == [
        r for r in s.resources if r.state in upkept or (r in taken and r.pool in checked)
    ]
    floor = min(p.last_start for p in s.pools)
    later = [r for r in s.resources if r.created_at > floor]
    assert f.newest == {r.pool: max(o.created_at for o in later if o.pool == r.pool) for r in later}
    assert f.live == Counter(r.pool for r in s.resources if r.state in LIVE_RESOURCE_STATES)


@settings(max_examples=300, deadline=None)
@given(planner_snapshots.snapshots(), st.randoms(use_true_random=False))
def test_plan_ignores_the_order_of_a_rich_snapshot(s: Snapshot, rnd: object) -> None:
    shuffled = list(s.resources)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    one, other = (
        plan(s),
        plan(Snapshot(s.now, s.pools, tuple(shuffled), s.tickets, s.quotas, s.privileges)),
    )
    assert hand_outs(one) == hand_outs(other)
    assert Counter(one.actions) == Counter(other.actions)
    assert (one.wake_at, dict(one.reasons)) == (other.wake_at, dict(other.reasons))
