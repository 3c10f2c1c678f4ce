"""A discrete-event replay of a ticket trace through the real service, planner and apply code.

Time is simulated; everything else is the server's own: tickets are opened
and closed by the service's use cases (the fast path of a spare at once,
the recycling of a closed ticket's resource), on a memory store, and at
every moment something happens the real `plan()` decides and the real
applier (service/apply.py) applies its actions, exactly as the reconciler
would, until there is nothing more to do. Only the hooks are pretended:
each takes the duration the workload gives it and succeeds. Livechecks
always pass (they do not change who waits how long), so pools are replayed
without cmd_livecheck.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

from lessor.domain.hooks import Hook
from lessor.domain.model import Pool, Snapshot
from lessor.domain.states import ResourceState, TicketState
from lessor.planner.actions import Plan
from lessor.planner.plan import plan
from lessor.server import MEMORY, Parts, build
from lessor.service.apply import Applied, HookOutcome, Launch
from lessor.service.errors import NoPoolForTags
from lessor.service.executor import writes
from lessor.service.keys import Proof
from lessor.service.sizing import SIZING_PERIOD
from lessor.sim.workload import Arrival, Durations, Workload

R = ResourceState
T = TicketState

SIMULATED = "(simulated)"
"""The command line of a pretended hook."""

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
    spare_seconds: float
    """Of resource_seconds, the time resources were ready and unassigned: what spares cost."""
    sized: tuple[tuple[float, int], ...] = ()
    """(when, spares) of each sizing of a target_wait pool, in time order."""


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


def _duration(d: Durations, hook: Hook) -> float:
    return {Hook.NEW: d.new, Hook.RELEASE: d.release, Hook.DELETE: d.delete}.get(hook, 0.0)


class _Sim:
    def __init__(self, pools: Sequence[Pool], workload: Workload) -> None:
        # Every pool makes and deletes its resources by a hook, which takes the time the
        # workload says; cmd_release stays as configured (without one, a reuse is at once).
        self.pools = tuple(
            p.evolve(cmd_new=SIMULATED, cmd_delete=SIMULATED, cmd_livecheck=None) for p in pools
        )
        self.w = workload
        self.now = 0.0
        self.parts: Parts = build(MEMORY, self.pools, clock=lambda: self.now)
        self.service = self.parts.service
        self.call = self.parts.executor.call
        self.events: list[tuple[float, int, Callable[[], None]]] = []
        self.order = itertools.count()
        self.arrivals_left = 0
        self.hold: dict[int, float] = {}
        """Seconds each ticket keeps its resource once assigned."""
        self.closing: set[int] = set()
        self.keys: dict[int, str] = {}
        """Each open ticket's key: the simulated clients close their tickets as holders."""
        self.refused = 0
        """Tickets no pool could ever serve."""
        self.hooked: defaultdict[str, float] = defaultdict(float)
        """Seconds each pool's resources spent in hooks (neither ready nor held)."""
        self.sized: defaultdict[str, list[tuple[float, int]]] = defaultdict(list)

    def at(self, when: float, fn: Callable[[], None]) -> None:
        heapq.heappush(self.events, (when, next(self.order), fn))

    # ---- the clock ------------------------------------------------------------

    def run(self) -> Outcome:
        for a in self.w.arrivals:
            self.at(a.at, partial(self._arrive, a))
        self.arrivals_left = len(self.w.arrivals)
        if any(p.target_wait_p95 is not None for p in self.pools):
            self.at(0.0, self._size)  # as the server does, every SIZING_PERIOD
        else:
            self.at(0.0, lambda: None)  # a plan at t=0, as a server plans at start-up
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
        active = self.parts.store.list_tickets([T.OPEN, T.ASSIGNED])
        return not self.arrivals_left and not active

    def _settle(self) -> float | None:
        """Plan and apply until the planner has nothing more to do at this moment."""
        for _ in range(MAX_PASSES):
            self._close_when_held()
            snapshot = self.service.snapshot()
            decided = plan(snapshot)
            if not decided.actions:
                return decided.wake_at
            applied: Applied = self.call(self._apply, snapshot, decided)
            for launch in applied.launches:
                seconds = _duration(self.w.durations(launch.pool.name), launch.hook)
                self.hooked[launch.pool.name] += seconds
                self.at(self.now + seconds, partial(self._finish, launch))
            if not (applied.launches or applied.touched or applied.changed):
                return decided.wake_at
        raise RuntimeError(f"the planner did not settle at t={self.now:g}s")

    @writes
    def _apply(self, snapshot: Snapshot, decided: Plan) -> Applied:
        return self.service.applier.apply(snapshot, decided)

    @writes
    def _finish(self, launch: Launch) -> None:
        self.service.applier.finished(launch, HookOutcome(ok=True), self.now)

    def _size(self) -> None:
        for s in self.call(self.service.size_spares):
            self.sized[s.pool].append((self.now, s.spares))
        if self.arrivals_left:
            self.at(self.now + SIZING_PERIOD, self._size)

    def _close_when_held(self) -> None:
        """A ticket assigned is closed once it has held its resource for its `hold`."""
        for t in self.parts.store.list_tickets([T.ASSIGNED]):
            if t.id not in self.closing and t.assigned_at is not None:
                self.closing.add(t.id)
                self.at(t.assigned_at + self.hold.pop(t.id), partial(self._close, t.id))

    def _close(self, ticket_id: int) -> None:
        self.call(self.service.close_ticket, ticket_id, Proof(key=self.keys.pop(ticket_id)))

    def _arrive(self, a: Arrival) -> None:
        self.arrivals_left -= 1
        try:
            held = self.call(self.service.open_ticket, list(a.tags), a.sandbox, a.priority)
        except NoPoolForTags:
            self.refused += 1  # as lessor's API refuses it: at once, naming the tag
            return
        self.hold[held.ticket.id] = a.hold
        assert held.key is not None
        self.keys[held.ticket.id] = held.key
        self._close_when_held()

    # ---- the figures -------------------------------------------------------------

    def _outcome(self) -> Outcome:
        store = self.parts.store
        resources = {r.id: r for r in store.list_resources()}
        alive: defaultdict[str, float] = defaultdict(float)
        started: Counter[str] = Counter()
        for r in resources.values():
            end = r.state_since if r.state is R.ENDED else self.now
            alive[r.pool] += end - r.created_at
            started[r.pool] += 1
        waits: dict[str, list[tuple[float, float]]] = defaultdict(list)
        held: defaultdict[str, float] = defaultdict(float)
        unserved = self.refused
        for t in store.list_tickets():
            if t.assigned_at is None or t.resource_id is None:
                unserved += t.state in (T.OPEN, T.FAILED)
                continue
            pool = resources[t.resource_id].pool
            waits[pool].append((t.assigned_at, t.assigned_at - t.created_at))
            until = t.closed_at if t.closed_at is not None else self.now
            held[pool] += until - t.assigned_at
        served = {name: [w for _, w in sorted(ws)] for name, ws in waits.items()}
        figures = tuple(
            PoolFigures(
                p.name,
                len(served.get(p.name, [])),
                tuple(served.get(p.name, [])),
                alive[p.name],
                started[p.name],
                max(0.0, alive[p.name] - held[p.name] - self.hooked[p.name]),
                tuple(self.sized[p.name]),
            )
            for p in self.pools
        )
        every = tuple(w for p in self.pools for w in served.get(p.name, []))
        self.parts.close()
        return Outcome(every, unserved, figures, self.now)
