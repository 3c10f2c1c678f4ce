"""The planner's decisions and the hooks' outcomes, applied to the store.

What each action of a plan does to the store, which hook it launches, and
what a finished hook's outcome does, are written here once: the reconciler
applies its plans with this and runs the hooks, the service applies the
recycling of a closed ticket's resource with it, and the simulator applies
plans with it and pretends the hooks ran for as long as its workload says.

A hook is claimed on its resource (Resource.hook) in the transaction that
decides to run it, and the claim ends in the one that stores its outcome:
no second hook runs on a resource, on this server or another.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from lessor.domain import events
from lessor.domain.hooks import Hook
from lessor.domain.matching import offered_tag_names
from lessor.domain.model import Claim, Pool, Resource, Snapshot, Ticket
from lessor.domain.states import CHECKABLE_STATES, ResourceState
from lessor.planner import actions as act
from lessor.planner.actions import Action, Plan
from lessor.planner.upkeep import delete_retry_at
from lessor.planner.view import dead
from lessor.service.jobs import end_whole_job
from lessor.store.interface import Store

R = ResourceState

CLAIM_LEASE = 15.0
"""Seconds a claim holds unless its owner renews it (every third of that while the hook
runs): a server dead, or paused, for longer leaves claims that another server recovers."""

CLOSED = "ticket closed"


@dataclass(frozen=True)
class Launch:
    """A hook to run now on a resource (claimed for it already)."""

    hook: Hook
    resource: Resource
    pool: Pool
    expires_at: float | None = None
    """A credential's cmd_new and cmd_extend: its ticket's lease end (LESSOR_EXPIRES_AT)."""


@dataclass(frozen=True)
class HookOutcome:
    """What a hook run came to: whether it succeeded, what it printed (cmd_new's data), and
    what is to be said of it when it did not ("cmd_new exited with 3")."""

    ok: bool
    stdout: bytes = b""
    said: str = ""
    tail: str = ""
    """The end of what it wrote to its log, for a failed cmd_new (never a secret pool's)."""


@dataclass
class Applied:
    launches: list[Launch] = field(default_factory=list)
    touched: list[int] = field(default_factory=list)
    """Tickets that changed: their waiters are woken."""
    changed: bool = False
    """Something the next pass must look at (a resource recycled, retired, a ticket expired)."""


@dataclass(frozen=True)
class _Seen:
    """The snapshot a plan was made from, by id."""

    resources: Mapping[int, Resource]
    pools: Mapping[str, Pool]
    tickets: Mapping[int, Ticket]

    @classmethod
    def of(cls, s: Snapshot) -> _Seen:
        return cls(
            {r.id: r for r in s.resources},
            {p.name: p for p in s.pools},
            {t.id: t for t in s.tickets},
        )


class Applier:
    def __init__(self, store: Store, owner: str) -> None:
        self.store = store
        self.owner = owner
        """The server whose hooks these are (it claims them)."""
        self._caps: _Caps | None = None
        """The caps as the rows have them, read at the first start of a plan."""

    def claim(self, hook: Hook, pool: Pool, now: float) -> Claim:
        return Claim(hook, self.owner, now + CLAIM_LEASE)

    # ---- decisions ------------------------------------------------------------

    def apply(self, snapshot: Snapshot, decided: Plan) -> Applied:
        """Apply a plan made from `snapshot` (inside one transaction: the executor's)."""
        seen = _Seen.of(snapshot)
        out = Applied()
        self._caps = None
        for action in decided.actions:
            self._apply(action, seen, snapshot.now, out)
        return out

    def recycle(
        self, a: act.Recycle, r: Resource, ticket: Ticket | None, now: float
    ) -> Resource | None:
        """Apply a recycle decision: the resource as it now is when it is UP again at once
        (no hook to run), else None (whether it moved or not: read it to know)."""
        sandbox = ticket.sandbox if ticket else r.sandbox
        if a.release_hook:  # cmd_release first, reused or not (then deleted: see planner)
            self.store.release(r.id, sandbox, now)
        elif a.reuse and sandbox is not None:
            return self.store.reuse_at_once(r, sandbox, now)
        else:
            self.store.request_delete(r.id, [R.TAKEN], CLOSED, now)
        return None

    def _apply(self, a: Action, seen: _Seen, now: float, out: Applied) -> None:
        store = self.store
        match a:
            case act.Assign(ticket_id, resource_id):
                if store.assign(ticket_id, resource_id, now):
                    out.touched.append(ticket_id)
            case act.GrantJob(job_id, parts):
                pairs = [(p.ticket_id, p.resource_id) for p in parts]
                if store.grant_job(job_id, pairs, now):  # every part, or none
                    out.touched += [p.ticket_id for p in parts]
            case act.FailTicket(ticket_id, message):
                if store.fail_ticket(ticket_id, message, now):
                    out.touched.append(ticket_id)
                    self._end_whole_job(seen.tickets.get(ticket_id), now, out)
            case act.ExpireTicket(ticket_id, message):
                if store.expire_ticket(ticket_id, message, now):
                    out.touched.append(ticket_id)
                    out.changed = True  # its resource is recycled in the next pass
                    self._end_whole_job(seen.tickets.get(ticket_id), now, out, message)
            case act.Start(pool_name, for_ticket):
                self._start(seen.pools[pool_name], seen.tickets.get(for_ticket or -1), now, out)
            case act.Recycle(resource_id):
                r = seen.resources[resource_id]
                ticket = seen.tickets.get(r.ticket_id) if r.ticket_id is not None else None
                self.recycle(a, r, ticket, now)
                out.changed = True
            case act.Retire(resource_id, reason):
                out.changed |= store.request_delete(resource_id, [R.UP, R.TAKEN], reason, now)
            case act.Livecheck(resource_id):
                self._launch(Hook.LIVECHECK, seen.resources[resource_id], seen, now, out)
            case act.Extend(resource_id):
                r = seen.resources[resource_id]
                ticket = seen.tickets[r.ticket_id or -1]
                self._launch(Hook.EXTEND, r, seen, now, out, ticket.expires_at)
            case act.Release(resource_id):
                self._launch(Hook.RELEASE, seen.resources[resource_id], seen, now, out)
            case act.FinishRelease(resource_id):
                out.changed |= store.release_done(resource_id, now)
            case act.Delete(resource_id, hook):
                r = seen.resources[resource_id]
                pool = seen.pools[r.pool]
                claim = self.claim(Hook.DELETE, pool, now) if hook else None
                if not store.start_delete(resource_id, now, claim):
                    return
                if claim is not None:
                    out.launches.append(Launch(Hook.DELETE, r, pool))
                else:
                    store.mark_ended(resource_id, now)

    def _end_whole_job(
        self, part: Ticket | None, now: float, out: Applied, lapsed: str | None = None
    ) -> None:
        """A part of a job ended: so does the rest of it (service/jobs.py)."""
        if part is not None and part.job_id is not None:
            ended = end_whole_job(self.store, part, now, lapsed)
            out.touched += [t.id for t, _ in ended]
            out.changed |= bool(ended)  # their resources are recycled in the next pass

    def _start(self, pool: Pool, for_ticket: Ticket | None, now: float, out: Applied) -> None:
        if self._caps is None:
            self._caps = _Caps(self.store.pool_counts())
        if not self._caps.take(pool):
            return  # the planner's snapshot was older than the rows: the caps win
        created = self.store.create_resource(
            pool.name,
            sorted(offered_tag_names(pool)),
            pool.name_pattern,
            now,
            pool.named_counters,
            reserved_for=for_ticket.id if for_ticket is not None else None,
            claim=self.claim(Hook.NEW, pool, now) if pool.cmd_new else None,
        )
        expires_at = None
        if pool.credential and for_ticket is not None and for_ticket.expires_at is not None:
            # Recorded before cmd_new runs: what it was told is what it must be told again.
            expires_at = for_ticket.expires_at
            self.store.set_valid_until(created.id, expires_at)
        if created.busy:
            out.launches.append(Launch(Hook.NEW, created, pool, expires_at))
        else:  # nothing to run: UP with no data (config warns of such a pool)
            self.store.mark_up(created.id, b"", now)
            out.changed = True

    def _launch(
        self,
        hook: Hook,
        r: Resource,
        seen: _Seen,
        now: float,
        out: Applied,
        expires_at: float | None = None,
    ) -> None:
        pool = seen.pools[r.pool]
        among = CHECKABLE_STATES if hook is Hook.LIVECHECK else frozenset({r.state})
        if self.store.claim_hook(r.id, among, self.claim(hook, pool, now)):
            out.launches.append(Launch(hook, r, pool, expires_at))

    # ---- outcomes ----------------------------------------------------------------

    def finished(self, launch: Launch, outcome: HookOutcome, now: float) -> None:
        """Store what the hook came to and end its claim (inside one transaction)."""
        r, pool, store = launch.resource, launch.pool, self.store
        match launch.hook:
            case Hook.NEW:
                if not outcome.ok:
                    store.request_delete(r.id, [R.STARTING], outcome.said, now)
                    store.save_data(r.id, outcome.stdout)  # cmd_delete may need it
                    said = f"{outcome.said}: {outcome.tail}" if outcome.tail else outcome.said
                    store.start_failed(pool.name, said, now)
                else:
                    if not store.mark_up(r.id, outcome.stdout, now):
                        store.save_data(r.id, outcome.stdout)
                    if not pool.cmd_livecheck:  # else its first passed check says it works
                        store.start_succeeded(pool.name)
            case Hook.LIVECHECK:
                if outcome.ok:
                    store.livecheck_passed(r.id, now)
                    store.start_succeeded(pool.name)
                else:
                    store.livecheck_failed(r.id, pool.livecheck_attempts, outcome.said, now)
                    if _dies_unused(pool, r):  # a pool whose new resources die backs off
                        store.start_failed(pool.name, f"a new resource died: {outcome.said}", now)
            case Hook.RELEASE:
                if outcome.ok:
                    store.release_done(r.id, now)
                else:
                    store.request_delete(r.id, [R.RELEASING], outcome.said, now)
            case Hook.EXTEND:
                assert launch.expires_at is not None and r.ticket_id is not None
                if outcome.ok:
                    store.set_valid_until(r.id, launch.expires_at)
                elif r.valid_until is not None:
                    # The credential ends when it was told it would: so does its ticket,
                    # rather than hold a dead credential (unless extended again meanwhile).
                    event = events.credential_extend_failed(
                        r, r.ticket_id, outcome.said, r.valid_until, now
                    )
                    store.cut_lease(r.ticket_id, launch.expires_at, r.valid_until, event)
            case Hook.DELETE:
                if outcome.ok:
                    if store.mark_ended(r.id, now) and pool.credential:
                        store.record_events([events.credential_revoked(r, now)])
                else:
                    retry_at = delete_retry_at(pool, r.delete_attempts + 1, now)
                    store.delete_failed(r.id, outcome.said, retry_at, now)
        store.end_hook(r.id, self.owner)


class _Caps:
    """`max` and `max_starting` checked again, in the transaction that starts resources,
    against the rows as they are: exact whatever the number of servers (only the fenced
    leader starts any, and a start only ever raises these counts)."""

    def __init__(self, counts: Mapping[str, Mapping[ResourceState, int]]) -> None:
        self.live = {pool: sum(by_state.values()) for pool, by_state in counts.items()}
        self.starting = {pool: by_state.get(R.STARTING, 0) for pool, by_state in counts.items()}

    def take(self, pool: Pool) -> bool:
        """Whether one more resource of `pool` may start now (counted if so)."""
        live, starting = self.live.get(pool.name, 0), self.starting.get(pool.name, 0)
        if live >= pool.max or starting >= pool.max_starting:
            return False
        self.live[pool.name], self.starting[pool.name] = live + 1, starting + 1
        return True


def _dies_unused(pool: Pool, r: Resource) -> bool:
    """Whether this failed livecheck is the one that makes a resource that never served a
    ticket dead (Resource `r` as it was before the check)."""
    never_used = r.state is R.UP and r.releases == 0 and r.sandbox is None
    after = r.evolve(livecheck_failures=r.livecheck_failures + 1)
    return never_used and dead(pool, after) and not dead(pool, r)
