"""What every rule of one plan looks at: the snapshot, the tickets still in play, and the
facts several rules derive from it, derived once.

A snapshot of a large installation holds some 100 k resources and as many tickets; a
plain pass over either costs milliseconds in Python, and a dozen rules each passing
over both made a plan cost a second. So the resources are sorted by state (and the
few facts about tickets gathered) in one pass each, once per plan, and every rule
looks only at the states it is about. tests/unit/test_planner_assign_indexed.py
says each fact plainly and holds the two equal.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from operator import attrgetter

from lessor.domain.model import Pool, Resource, Snapshot, Ticket
from lessor.domain.states import LIVE_RESOURCE_STATES, ResourceState, TicketState

R = ResourceState
T = TicketState


class Facts:
    """What the rules of one plan derive from its snapshot, each on first use."""

    def __init__(self, s: Snapshot) -> None:
        self.s = s

    @cached_property
    def _tickets(self) -> _TicketFacts:
        active: list[int] = []
        ended: dict[int, Ticket] = {}
        leased: list[Ticket] = []
        waiting: list[Ticket] = []
        jobs: dict[int, list[Ticket]] = {}
        for t in self.s.tickets:
            state = t.state
            if state is T.ASSIGNED or state is T.OPEN:
                active.append(t.id)
                if t.expires_at is not None:
                    leased.append(t)
                if state is T.OPEN:
                    waiting.append(t)
            else:
                ended[t.id] = t
            if t.job_id is not None:
                jobs.setdefault(t.job_id, []).append(t)
        return frozenset(active), ended, leased, waiting, jobs

    @property
    def active(self) -> frozenset[int]:
        """The ids of the tickets that hold or wait for a resource."""
        return self._tickets[0]

    @property
    def ended(self) -> Mapping[int, Ticket]:
        """The tickets that no longer do (closed, failed), by id."""
        return self._tickets[1]

    @property
    def leased(self) -> list[Ticket]:
        """The active tickets with a lease (an expiry time), in snapshot order."""
        return self._tickets[2]

    @property
    def open(self) -> list[Ticket]:
        """The OPEN tickets, in snapshot order."""
        return self._tickets[3]

    @property
    def jobs(self) -> Mapping[int, list[Ticket]]:
        """Every job's parts in the snapshot, by job id."""
        return self._tickets[4]

    @cached_property
    def _resources(self) -> _ResourceFacts:
        by_state: dict[R, list[Resource]] = {state: [] for state in R}
        upkept: list[Resource] = []
        orphans: list[Resource] = []
        newest: dict[str, float] = {}
        active = self.active
        # TAKEN ones are looked after only in pools that check or extend them
        checked = {p.name for p in self.s.pools if p.cmd_livecheck or p.cmd_extend}
        upkeep_states = (R.UP, R.RELEASING, R.DELETE_REQUESTED)
        # Only a resource created after a pool's last_start can move it (planner/starts.py),
        # and that is rare: one comparison a resource for the others.
        floor = min((p.last_start for p in self.s.pools), default=0.0)
        for r in self.s.resources:
            state = r.state
            by_state[state].append(r)
            if state is R.TAKEN:
                if r.ticket_id not in active:
                    orphans.append(r)
                if r.pool in checked:
                    upkept.append(r)
            elif state in upkeep_states:
                upkept.append(r)
            created = r.created_at
            if created > floor and created > newest.get(r.pool, floor):
                newest[r.pool] = created
        return by_state, upkept, orphans, newest

    def of_state(self, state: R) -> list[Resource]:
        """The resources in `state`, in snapshot order."""
        return self._resources[0][state]

    @property
    def upkept(self) -> list[Resource]:
        """The resources the upkeep rules may act on, in snapshot order: UP, RELEASING,
        DELETE_REQUESTED, and TAKEN in a pool with livechecks or cmd_extend (the others TAKEN need
        nothing but recycling, which looks at `orphans`)."""
        return self._resources[1]

    @property
    def orphans(self) -> list[Resource]:
        """TAKEN resources whose ticket is not active (ended, or not in the snapshot), in
        snapshot order."""
        return self._resources[2]

    @property
    def newest(self) -> Mapping[str, float]:
        """Per pool, the latest `created_at` of its resources, if later than the earliest
        `last_start` of all pools (an earlier one changes no pool's last start)."""
        return self._resources[3]

    @cached_property
    def live(self) -> Counter[str]:
        """Per pool, its resources in a live state."""
        live: Counter[str] = Counter()
        for state in LIVE_RESOURCE_STATES:
            live.update(map(_pool, self.of_state(state)))
        return live


_TicketFacts = tuple[
    frozenset[int], dict[int, Ticket], list[Ticket], list[Ticket], dict[int, list[Ticket]]
]
_ResourceFacts = tuple[dict[R, list[Resource]], list[Resource], list[Resource], dict[str, float]]
_pool = attrgetter("pool")


@dataclass(frozen=True)
class View:
    s: Snapshot
    pools: dict[str, Pool]
    open_ids: frozenset[int]
    """Open tickets that neither expire nor fail in this plan."""
    facts: Facts = field(compare=False)

    @classmethod
    def of(cls, s: Snapshot, open_ids: frozenset[int], facts: Facts | None = None) -> View:
        """`facts`: those of `s` another view of the same plan derived already."""
        return cls(s, {p.name: p for p in s.pools}, open_ids, facts or Facts(s))

    def reserved_for_other(self, r: Resource, ticket_id: int | None, among: frozenset[int]) -> bool:
        """Whether `r` waits for another ticket; a reservation for a ticket gone is void."""
        return (
            r.reserved_for is not None and r.reserved_for != ticket_id and r.reserved_for in among
        )

    def free(self, r: Resource) -> bool:
        """An UP resource that may be handed out: not held, not mid-hook, its last livecheck
        passed (resalloc's rule), its pool not drained; a released one only to its sandbox."""
        return (
            r.state is R.UP
            and r.hold_reason is None  # not r.held, not r.busy: without the calls
            and r.hook is None
            and r.livecheck_failures == 0
            and (r.releases == 0 or r.sandbox is not None)
            and r.pool in self.handing_out
        )

    @cached_property
    def handing_out(self) -> frozenset[str]:
        """The pools whose ready resources may be handed out: those not draining."""
        return frozenset(name for name, p in self.pools.items() if not draining(p))


def draining(pool: Pool) -> bool:
    """Drained by an admin, or removed from pools.yaml: it only winds down."""
    return pool.drained or pool.removed


def dead(pool: Pool, r: Resource) -> bool:
    """Livechecks: dead after `livecheck_attempts` failures in a row."""
    return bool(pool.cmd_livecheck) and r.livecheck_failures >= pool.livecheck_attempts
