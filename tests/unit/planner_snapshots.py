"""Random snapshots for the planner's property tests: a few pools, resources of every state
and tickets of every state, with the corners the indexed planner must treat as the plain
rules do (held, busy, dead or reserved resources; released ones in sandboxes; tickets gone
or of no pool; jobs; owners with privileges and quotas; tag priorities beyond the reuse
bonus; timed rules both due and ahead)."""

from __future__ import annotations

from hypothesis import strategies as st

from lessor.domain.model import Pool, Resource, Snapshot, Tag, Ticket
from lessor.domain.states import ResourceState, TicketState

NOW = 1_000_000.0
TAGS = ("a", "b", "c", "d")
SANDBOXES = (None, "s1", "s2")
OWNERS = (None, "ann", "bob")


def _when(draw: st.DrawFn) -> float:
    """A time near NOW: past, now or ahead."""
    return NOW + draw(st.sampled_from((-5000.0, -700.0, -30.0, -1.0, 0.0, 20.0, 900.0)))


@st.composite
def a_pool(draw: st.DrawFn, i: int) -> Pool:
    tags = draw(st.sets(st.sampled_from(TAGS), min_size=1))
    on_demand = (
        draw(st.sets(st.sampled_from(TAGS[2:]), max_size=1)) if draw(st.booleans()) else set()
    )
    return Pool(
        name=f"p{i}",
        tags=tuple(Tag(n, priority=draw(st.sampled_from((-3, 0, 2, 600)))) for n in sorted(tags)),
        tags_on_demand=tuple(Tag(n) for n in sorted(on_demand - tags)),
        priority=draw(st.integers(0, 2)),
        max=draw(st.integers(1, 8)),
        max_starting=draw(st.integers(1, 3)),
        max_prealloc=draw(st.integers(0, 3)),
        start_delay=draw(st.sampled_from((0.0, 0.0, 30.0))),
        start_for_waiting=draw(st.booleans()),
        cmd_livecheck=draw(st.sampled_from((None, "check"))),
        cmd_release=draw(st.sampled_from((None, "clean"))),
        cmd_delete=draw(st.sampled_from((None, "rm"))),
        livecheck_attempts=draw(st.integers(1, 2)),
        reuse_opportunity_time=draw(st.sampled_from((0.0, 60.0))),
        reuse_max_count=draw(st.integers(0, 2)),
        reuse_max_time=draw(st.sampled_from((0.0, 3600.0))),
        idle_time=draw(st.sampled_from((0.0, 600.0))),
        privilege=draw(st.sampled_from((None, None, "lab"))),
        drained=draw(st.integers(0, 5)) == 0,
        removed=draw(st.integers(0, 7)) == 0,
        last_start=_when(draw),
        start_failures=(failures := draw(st.sampled_from((0, 0, 2)))),
        failed_at=_when(draw) if failures else None,
    )


@st.composite
def a_resource(draw: st.DrawFn, ps: tuple[Pool, ...], rid: int) -> Resource:
    p = draw(st.sampled_from(ps))
    sandbox = draw(st.sampled_from(SANDBOXES))
    return Resource(
        id=rid,
        pool=p.name if draw(st.integers(0, 15)) else "gone",  # now and then of no pool
        name=f"r{rid}",
        state=draw(st.sampled_from((ResourceState.UP,) * 3 + tuple(ResourceState))),
        # Mostly the pool's tags; sometimes ones its pool no longer offers.
        tags=tuple(t.name for t in p.tags + p.tags_on_demand)
        if draw(st.booleans()) or draw(st.booleans())
        else tuple(sorted(draw(st.sets(st.sampled_from(TAGS))))),
        ticket_id=draw(st.one_of(st.none(), st.integers(1, 16))),
        sandbox=sandbox,
        releases=0 if sandbox is None else draw(st.integers(0, 3)),
        created_at=_when(draw),
        state_since=_when(draw),
        last_livecheck=draw(st.sampled_from((None, NOW - 700.0, NOW - 5.0))),
        sandboxed_since=draw(st.sampled_from((None, NOW - 4000.0))),
        next_attempt_at=_when(draw),
        hold_reason="held" if draw(st.integers(0, 9)) == 0 else None,
        hook="cmd_livecheck" if draw(st.integers(0, 9)) == 0 else None,
        livecheck_failures=draw(st.sampled_from((0, 0, 0, 1, 2))),
        reserved_for=draw(st.one_of(st.none(), st.integers(1, 16))),
        message="no answer",
    )


@st.composite
def snapshots(draw: st.DrawFn, jobs: bool = True) -> Snapshot:
    """`jobs`: whether tickets may be parts of jobs."""
    ps = tuple(draw(a_pool(i)) for i in range(draw(st.integers(1, 4))))
    jobs = jobs and draw(st.booleans())
    tickets = tuple(
        Ticket(
            id=tid,
            tags=tuple(sorted(draw(st.sets(st.sampled_from(TAGS), max_size=2)))),
            state=draw(st.sampled_from((TicketState.OPEN,) * 3 + tuple(TicketState))),
            sandbox=draw(st.sampled_from(SANDBOXES)),
            priority=draw(st.sampled_from((0, 0, 1))),
            ttl=60.0,
            expires_at=_when(draw) if draw(st.integers(0, 3)) == 0 else None,
            job_id=draw(st.sampled_from((None, None, 1, 2))) if jobs else None,
            part=f"x{tid}",
            owner=draw(st.sampled_from(OWNERS)),
        )
        for tid in range(1, draw(st.integers(0, 14)) + 1)
    )
    rs = tuple(draw(a_resource(ps, rid)) for rid in draw(st.sets(st.integers(1, 40), max_size=18)))
    quotas = {"ann": {"p0": 1, "*": 3}} if draw(st.booleans()) else {}
    privileges = {"bob": frozenset({"lab"})} if draw(st.booleans()) else {}
    return Snapshot(NOW, ps, rs, tickets, quotas=quotas, privileges=privileges)
