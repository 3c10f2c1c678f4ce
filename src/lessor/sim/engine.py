"""A discrete-event replay of a ticket trace through the real planner.

Time is simulated: hooks take the durations the workload gives, tickets
arrive and close on the trace's schedule, and at every moment something
happens the real `plan()` decides, exactly as the reconciler would ask it,
until it has nothing more to do. Livechecks always pass (they do not change
who waits how long), so pools are replayed without cmd_livecheck.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

from lessor.domain.matching import offered_tag_names
from lessor.domain.model import Pool, Resource, Snapshot, Ticket
from lessor.domain.states import ResourceState, TicketState
from lessor.planner import actions as act
from lessor.planner.plan import plan
from lessor.sim.workload import Arrival, Workload

R = ResourceState
T = TicketState

MAX_PASSES = 10_000
"""Plans at one moment before the simulation calls the planner unsettled (a bug, not a load)."""


@dataclass(frozen=True)
class PoolFigures:
    name: str
    served: int
    waits: tuple[float, ...]
    """Seconds each ticket it served waited, in the order they were served."""
    resource_seconds: float
    """Summed lifetime of its resources, from cmd_new to the end of cmd_delete."""
    started: int


@dataclass(frozen=True)
class Outcome:
    waits: tuple[float, ...]
    """Seconds each served ticket waited for its resource."""
    unserved: int
    """Tickets failed, or still waiting at the end (the horizon, or nothing left to happen)."""
    pools: tuple[PoolFigures, ...]
    end: float


def simulate(pools: Sequence[Pool], workload: Workload) -> Outcome:
    return _Sim(pools, workload).run()


class _Sim:
    def __init__(self, pools: Sequence[Pool], workload: Workload) -> None:
        self.pools = tuple(p.evolve(cmd_livecheck=None) for p in pools)
        self.by_name = {p.name: p for p in self.pools}
        self.w = workload
        self.now = 0.0
        self.live: dict[int, Resource] = {}
        self.active: dict[int, Ticket] = {}
        """Open and assigned tickets, and closed ones whose resource is not recycled yet."""
        self.busy: set[int] = set()
        self.events: list[tuple[float, int, Callable[[], None]]] = []
        self.order = itertools.count()
        self.ids = itertools.count(1)
        self.arrivals_left = 0
        self.failed = 0
        self.waits: dict[str, list[float]] = defaultdict(list)
        self.alive: defaultdict[str, float] = defaultdict(float)
        self.started: Counter[str] = Counter()
        self.hold: dict[int, float] = {}

    def at(self, when: float, fn: Callable[[], None]) -> None:
        heapq.heappush(self.events, (when, next(self.order), fn))

    # ---- the clock ------------------------------------------------------

    def run(self) -> Outcome:
        for a in self.w.arrivals:
            self.at(a.at, partial(self._arrive, a))
        self.arrivals_left = len(self.w.arrivals)
        wake: float | None = None
        while not self._finished():
            first = self.events[0][0] if self.events else None
            upcoming = [t for t in (first, wake) if t is not None]
            if not upcoming:
                break  # tickets wait for something that never comes (e.g. max: 0)
            when = max(self.now, min(upcoming))
            if self.w.horizon is not None and when > self.w.horizon:
                self.now = self.w.horizon
                break
            self.now = when
            while self.events and self.events[0][0] <= self.now:
                heapq.heappop(self.events)[2]()
            wake = self._settle()
        return self._outcome()

    def _finished(self) -> bool:
        return not self.arrivals_left and not any(
            t.state in (T.OPEN, T.ASSIGNED) for t in self.active.values()
        )

    def _settle(self) -> float | None:
        """Plan and apply until the planner has nothing more to do at this moment."""
        for _ in range(MAX_PASSES):
            decided = plan(
                Snapshot(
                    self.now,
                    self.pools,
                    tuple(self.live.values()),
                    tuple(self.active.values()),
                    frozenset(self.busy),
                )
            )
            changed = [self._apply(a) for a in decided.actions]
            if not any(changed):
                return decided.wake_at
        raise RuntimeError(f"the planner did not settle at t={self.now:g}s")

    def _outcome(self) -> Outcome:
        for r in self.live.values():
            self.alive[r.pool] += self.now - r.created_at
        waiting = sum(1 for t in self.active.values() if t.state is T.OPEN)
        figures = tuple(
            PoolFigures(
                p.name,
                len(self.waits[p.name]),
                tuple(self.waits[p.name]),
                self.alive[p.name],
                self.started[p.name],
            )
            for p in self.pools
        )
        every = tuple(w for p in self.pools for w in self.waits[p.name])
        return Outcome(every, self.failed + waiting, figures, self.now)

    # ---- the planner's actions, as the reconciler applies them ----------

    def _apply(self, a: act.Action) -> bool:
        """Apply one action; False when it changes nothing the planner looks at."""
        match a:
            case act.Assign(ticket_id, resource_id):
                self._assign(self.active[ticket_id], self.live[resource_id])
            case act.FailTicket(ticket_id):
                self.active.pop(ticket_id)
                self.failed += 1
            case act.ExpireTicket(ticket_id, message):
                self._end_ticket(ticket_id, message)
            case act.Start(pool, for_ticket):
                self._start(self.by_name[pool], for_ticket)
            case act.Recycle(resource_id, reuse):
                self._recycle(self.live[resource_id], reuse)
            case act.Release(resource_id):
                self._release(self.live[resource_id])
            case act.Retire(resource_id):
                self._move(resource_id, R.DELETE_REQUESTED, next_attempt_at=self.now)
            case act.Delete(resource_id):
                self._delete(self.live[resource_id])
            case act.Livecheck() | act.ReportOnTicket():
                return False
        return True

    def _assign(self, t: Ticket, r: Resource) -> None:
        self.active[t.id] = t.evolve(state=T.ASSIGNED, resource_id=r.id, assigned_at=self.now)
        self._move(r.id, R.TAKEN, ticket_id=t.id, sandbox=t.sandbox, reserved_for=None)
        self.waits[r.pool].append(self.now - t.created_at)
        self.at(self.now + self.hold.pop(t.id), partial(self._end_ticket, t.id, ""))

    def _end_ticket(self, ticket_id: int, message: str) -> None:
        t = self.active[ticket_id]
        self.active[ticket_id] = t.evolve(state=T.CLOSED, closed_at=self.now, message=message)

    def _start(self, pool: Pool, for_ticket: int | None) -> None:
        rid = next(self.ids)
        tags = tuple(sorted(offered_tag_names(pool)))
        self.live[rid] = Resource(
            rid,
            pool.name,
            f"{pool.name}_{rid}",
            R.STARTING,
            tags=tags,
            id_in_pool=rid,
            created_at=self.now,
            state_since=self.now,
            reserved_for=for_ticket,
        )
        self.started[pool.name] += 1
        self._hook(rid, self.w.durations(pool.name).new, R.UP)

    def _recycle(self, r: Resource, reuse: bool) -> None:
        ticket = self.active.pop(r.ticket_id) if r.ticket_id is not None else None
        if reuse:
            self._move(r.id, R.RELEASING, sandbox=ticket.sandbox if ticket else r.sandbox)
        else:
            self._move(r.id, R.DELETE_REQUESTED, next_attempt_at=self.now)

    def _release(self, r: Resource) -> None:
        done = {"ticket_id": None, "releases": r.releases + 1}
        self._hook(r.id, self.w.durations(r.pool).release, R.UP, **done)

    def _delete(self, r: Resource) -> None:
        self._move(r.id, R.DELETING)
        self._hook(r.id, self.w.durations(r.pool).delete, R.ENDED)

    def _hook(self, rid: int, seconds: float, then: ResourceState, **changes: object) -> None:
        """A hook of `seconds`; the resource is busy meanwhile, then moves to `then`."""
        if seconds <= 0:
            self._finish(rid, then, changes)
            return
        self.busy.add(rid)
        self.at(self.now + seconds, partial(self._finish, rid, then, changes))

    def _finish(self, rid: int, state: ResourceState, changes: dict[str, object]) -> None:
        self.busy.discard(rid)
        if state is R.ENDED:
            r = self.live.pop(rid)
            self.alive[r.pool] += self.now - r.created_at
            return
        self._move(rid, state, **changes)

    def _move(self, rid: int, state: ResourceState, **changes: object) -> None:
        self.live[rid] = self.live[rid].evolve(state=state, state_since=self.now, **changes)

    def _arrive(self, a: Arrival) -> None:
        tid = next(self.ids)
        self.arrivals_left -= 1
        self.hold[tid] = a.hold
        self.active[tid] = Ticket(
            tid, a.tags, T.OPEN, sandbox=a.sandbox, priority=a.priority, created_at=self.now
        )
