"""Starting resources: each pool's spares, and resources started for waiting tickets.

As resalloc: a pool keeps `max_prealloc` spares ready or starting, and starts
nothing else; an on-demand pool keeps none and starts one for each ticket
that asks for one of its on-demand tags, reserved for that ticket. A pool
with `start_for_waiting` (lessor's) also starts one for any waiting ticket
it could serve, beyond its spares. `max`, `max_starting`, `start_delay`, the
backoff after failed starts and a drain bound them all.

It also says, for every ticket it cannot serve at once, why: the same
accounting that decides what to start explains what it did not start.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field

from lessor.domain.matching import pool_serves, resource_fits, unservable_tags
from lessor.domain.model import Pool, Resource, Ticket
from lessor.domain.states import ResourceState
from lessor.planner.actions import Start
from lessor.planner.messages import no_pool_message
from lessor.planner.rank import asks_on_demand, by_rank
from lessor.planner.timer import Timer
from lessor.planner.upkeep import is_spare, may_reuse, spares_kept
from lessor.planner.view import View, draining

R = ResourceState


@dataclass
class Starts:
    starts: list[Start] = field(default_factory=list)
    reasons: dict[int, str] = field(default_factory=dict)


def start(v: View, waiting: list[Ticket], taken: set[int], timer: Timer) -> Starts:
    """The starts of this plan: first each pool's spares, then for the waiting tickets (in
    queue order) what on-demand and start_for_waiting pools start for them.

    A resource already on its way (starting, or being released in the
    ticket's own sandbox) is supply: a ticket counts on it rather than start
    another, so a burst of tickets never starts more than it needs.
    """
    ledger = _Ledger.of(v, frozenset(t.id for t in waiting))
    out = Starts(starts=ledger.top_up(taken, timer))
    live_pools = [p for p in v.s.pools if not p.removed]
    behind: Counter[str] = Counter()
    ranked: dict[tuple[str, ...], list[Pool]] = {}
    unservable: dict[tuple[str, ...], str] = {}
    for t in waiting:
        if t.tags not in ranked:  # tickets ask for few distinct tag sets: rank pools once each
            ranked[t.tags] = by_rank((p for p in v.s.pools if pool_serves(p, t.tags)), t.tags)
        candidates = ranked[t.tags]
        if not candidates:
            if t.tags not in unservable:
                unservable[t.tags] = no_pool_message(unservable_tags(live_pools, t.tags))
            out.reasons[t.id] = unservable[t.tags]
            continue
        served, notes = ledger.serve(t, candidates, out.starts, timer)
        ahead = max((behind[p.name] for p in candidates), default=0)
        if ahead and not served:
            notes.append(f"{ahead} ahead of you in the queue")
        for p in candidates:
            behind[p.name] += 1
        out.reasons[t.id] = "; ".join(notes)
    return out


def backoff(pool: Pool) -> float:
    """Seconds a pool waits after its last failed cmd_new before the next: `start_backoff`,
    doubling with each failure in a row up to `start_backoff_max`, with a jitter of up to a
    quarter either way so that pools failing together (a cloud's quota) do not retry
    together. The jitter is drawn from the pool's name and failure count: the planner has
    no randomness of its own, and replays give the same plan."""
    if pool.start_failures <= 0 or pool.start_backoff <= 0:
        return 0.0
    pause: float = min(pool.start_backoff_max, pool.start_backoff * 2 ** (pool.start_failures - 1))
    digest = hashlib.sha256(f"{pool.name}/{pool.start_failures}".encode()).digest()
    jitter = digest[0] / 255 * 0.5 - 0.25
    return pause * (1 + jitter)


@dataclass
class _Ledger:
    v: View
    waiting_ids: frozenset[int]
    live: Counter[str]
    starting: Counter[str]
    coming: dict[str, list[Resource]]
    """Per pool, resources on their way to UP that no ticket counts on yet."""
    planned: Counter[str] = field(default_factory=Counter)
    spares_planned: Counter[str] = field(default_factory=Counter)
    """Spares this plan starts, per pool, that no ticket counts on yet."""
    last_start: dict[str, float] = field(default_factory=dict)

    @classmethod
    def of(cls, v: View, waiting_ids: frozenset[int]) -> _Ledger:
        f = v.facts
        coming: dict[str, list[Resource]] = {p.name: [] for p in v.s.pools}
        # Released in its sandbox (or about to be): ready again soon, for that sandbox.
        reused = [r for r in f.orphans if r.ticket_id in f.ended]
        on_the_way = f.of_state(R.STARTING) + f.of_state(R.RELEASING)
        for r in sorted(on_the_way + reused, key=lambda r: r.id):
            pool = v.pools.get(r.pool)
            if pool is None or r.held:
                continue
            if r.state is R.TAKEN and not may_reuse(pool, r, r.sandbox, v.s.now):
                continue
            coming[r.pool].append(r)
        newest = f.newest
        last_start = {
            p.name: max(p.last_start, newest.get(p.name, p.last_start)) for p in v.s.pools
        }
        return cls(
            v,
            waiting_ids,
            live=f.live,
            starting=Counter(r.pool for r in f.of_state(R.STARTING)),
            coming=coming,
            last_start=last_start,
        )

    def possible_at(self, p: Pool) -> float:
        """When `start_delay` and the backoff after failed starts allow the pool's next
        cmd_new (now or earlier: it may start now)."""
        at = self.last_start.get(p.name, 0.0) + p.start_delay
        if p.failing and p.failed_at is not None:
            at = max(at, p.failed_at + backoff(p))
        if self.planned[p.name] and p.start_delay > 0:
            at = max(at, self.v.s.now + p.start_delay)  # one start a pass: the next waits
        return at

    def room(self, p: Pool) -> tuple[int, float | None]:
        """How many may start in `p` now, and when a start that time holds back may go
        (None: none is held back)."""
        if draining(p):
            return 0, None
        at = self.possible_at(p)
        if at > self.v.s.now:
            return 0, at
        n = self.planned[p.name]
        room = max(
            0, min(p.max - self.live[p.name] - n, p.max_starting - self.starting[p.name] - n)
        )
        if (p.start_delay > 0 or p.failing) and room > 1:
            return 1, self.v.s.now + p.start_delay  # one at a time while it waits or fails
        return room, None

    def serve(
        self, t: Ticket, candidates: list[Pool], starts: list[Start], timer: Timer
    ) -> tuple[bool, list[str]]:
        """Count on something coming, or start one; and what the ticket is told."""
        for p in candidates:
            r = self._claim(p, t)
            if r is not None:
                if r.state is not R.STARTING:
                    return True, [
                        f"pool {p.name}: resource {r.id} is being released in your sandbox"
                    ]
                return True, [f"pool {p.name}: resource {r.id} starting for you"]
            if self.spares_planned[p.name] and not p.tags_on_demand:
                self.spares_planned[p.name] -= 1
                return True, [f"pool {p.name}: starting a spare (max_prealloc)"]
        notes = []
        for p in candidates:
            why, possible_at = self._why_not(p, t)
            if possible_at is not None:
                timer.remember(possible_at)
            if why:
                notes.append(f"pool {p.name}: {why}")
                continue
            self.planned[p.name] += 1
            # A credential is minted for its ticket: told that ticket's lease end.
            reserved = p.tags_on_demand or p.credential
            starts.append(Start(p.name, t.id if reserved else None))
            notes.append(f"pool {p.name}: starting 1 for you")
            return True, notes
        return False, notes

    def _claim(self, p: Pool, t: Ticket) -> Resource | None:
        """The resource coming up in `p` this ticket may count on: its own reservation first."""
        usable = [r for r in self.coming[p.name] if self._may_count_on(p, r, t)]
        if not usable:
            return None
        chosen = next((r for r in usable if r.reserved_for == t.id), usable[0])
        self.coming[p.name].remove(chosen)
        return chosen

    def _may_count_on(self, p: Pool, r: Resource, t: Ticket) -> bool:
        if r.state is R.STARTING:
            return resource_fits(r, t) and not self.v.reserved_for_other(r, t.id, self.waiting_ids)
        # Being released: up again soon, for its sandbox only, unless deleted instead.
        return (
            r.sandbox is not None
            and r.sandbox == t.sandbox
            and resource_fits(r, t)
            and may_reuse(p, r, r.sandbox, self.v.s.now)
        )

    def _why_not(self, p: Pool, t: Ticket) -> tuple[str, float | None]:
        """Why no resource can be started in `p` for `t` now (empty when one can), and when
        one could be if only time holds it back."""
        if p.removed:
            return "removed from pools.yaml", None
        if p.drained:
            return (f"drained ({p.drain_reason})" if p.drain_reason else "drained"), None
        if p.tags_on_demand and not asks_on_demand(p, t):
            names = ", ".join(repr(tag.name) for tag in p.tags_on_demand)
            return f"starts resources only for tickets asking for {names}", None
        n = self.planned[p.name]
        if self.live[p.name] + n >= p.max:
            return f"{self.live[p.name] + n}/{p.max} at max", None
        at = self.possible_at(p)
        left = at - self.v.s.now
        if left > 0 and p.failing and p.failed_at is not None and at == p.failed_at + backoff(p):
            return f"failing, next start in {left:.0f}s (start_backoff): {p.last_failure}", at
        if not p.tags_on_demand and not p.start_for_waiting:
            kept = spares_kept(p)
            return f"{kept} spare{'' if kept == 1 else 's'} kept (max_prealloc), all taken", None
        if self.starting[p.name] + n >= p.max_starting:
            starting = self.starting[p.name] + n
            return f"{starting}/{p.max_starting} starting at once (max_starting)", None
        if left > 0:
            return f"next start in {left:.0f}s (start_delay)", at
        return "", None

    def top_up(self, taken: set[int], timer: Timer) -> list[Start]:
        """Keep each pool's spares (spares_kept) ready or starting, within its limits.

        As resalloc counts them: the spares and every resource starting in the
        pool; a start_for_waiting pool counts only those no ticket counts on,
        so what it starts for tickets never stands in for its spares.
        """
        spares = Counter(
            r.pool
            for r in self.v.facts.of_state(R.UP)
            if is_spare(self.v, r, taken, self.waiting_ids)
        )
        starts = []
        for p in self.v.s.pools:
            wanted = spares_kept(p)
            if not wanted:
                continue
            if p.start_for_waiting:
                on_the_way = sum(
                    1
                    for r in self.coming[p.name]
                    if r.state is R.STARTING
                    and not self.v.reserved_for_other(r, None, self.waiting_ids)
                )
            else:
                on_the_way = self.starting[p.name]
            missing = max(0, wanted - spares[p.name] - on_the_way)
            if not missing:
                continue
            room, possible_at = self.room(p)
            if possible_at is not None:
                timer.remember(possible_at)
            extra = min(missing, room)
            self.planned[p.name] += extra
            if not p.start_for_waiting:
                self.spares_planned[p.name] += extra
            starts += [Start(p.name)] * extra
        return starts
