"""Plain data for planner tests: pools, resources and tickets with terse defaults."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TypeVar

from lessor.domain.model import Pool, Resource, Snapshot, Tag, Ticket
from lessor.domain.states import ResourceState as R
from lessor.domain.states import TicketState as T
from lessor.planner.actions import Plan, Start
from lessor.planner.plan import plan

NOW = 1_000_000.0
A = TypeVar("A")


def pool(name: str = "p", *tags: str | Tag, **kw: object) -> Pool:
    tag_values = tuple(t if isinstance(t, Tag) else Tag(t) for t in (tags or ("x",)))
    return Pool(name=name, tags=tag_values, **kw)  # type: ignore[arg-type]


def res(
    rid: int,
    state: R = R.UP,
    pool_name: str = "p",
    tags: tuple[str, ...] = ("x",),
    age: float = 100,
    **kw: object,
) -> Resource:
    """A resource of `pool_name`, created and in its state since `age` seconds."""
    values: dict[str, object] = {"created_at": NOW - age, "state_since": NOW - age}
    values.update(kw)
    return Resource(
        id=rid,
        pool=pool_name,
        name=f"{pool_name}_{rid}",
        state=state,
        tags=tags,
        id_in_pool=rid,
        **values,  # type: ignore[arg-type]
    )


def ticket(tid: int, *tags: str, state: T = T.OPEN, **kw: object) -> Ticket:
    values: dict[str, object] = {"created_at": NOW - 100 + tid}
    values.update(kw)
    return Ticket(id=tid, tags=tags or ("x",), state=state, **values)  # type: ignore[arg-type]


def run(
    pools: Sequence[Pool],
    resources: Sequence[Resource] = (),
    tickets: Sequence[Ticket] = (),
    busy: frozenset[int] = frozenset(),
    now: float = NOW,
) -> Plan:
    """The plan; `busy`: ids of resources a hook runs on."""
    return plan(Snapshot(now, tuple(pools), with_hooks(resources, busy), tuple(tickets)))


def with_hooks(resources: Sequence[Resource], busy: frozenset[int]) -> tuple[Resource, ...]:
    """The resources, those of `busy` with a hook running on them."""
    return tuple(r.evolve(hook="cmd_livecheck") if r.id in busy else r for r in resources)


def starts(p: Plan) -> Counter[str]:
    return Counter(a.pool for a in p.actions if isinstance(a, Start))


def of(p: Plan, kind: type[A]) -> list[A]:
    return [a for a in p.actions if isinstance(a, kind)]
