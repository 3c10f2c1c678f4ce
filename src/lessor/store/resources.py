"""The SQL store's resources: their life cycle, livechecks, holds and the hooks in flight."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence

import sqlalchemy as sa

from lessor.domain import changes, events
from lessor.domain.events import Event
from lessor.domain.kinds import EventKind as K
from lessor.domain.model import Claim, Resource
from lessor.domain.naming import resource_name
from lessor.domain.paging import Page
from lessor.domain.states import (
    CHECKABLE_STATES,
    HOLDABLE_STATES,
    LIVE_RESOURCE_STATES,
    ResourceMove,
    ResourceState,
)
from lessor.store import eventlog, numbering
from lessor.store import statements as st
from lessor.store.base import SqlBase
from lessor.store.pools import note_start
from lessor.store.rows import resource_of
from lessor.store.tables import resources

R = ResourceState
M = ResourceMove

RECOVERED = "the server running its hook died or restarted"


class ResourceRows(SqlBase):
    def get_resource(self, resource_id: int) -> Resource | None:
        with self._read() as conn:
            rows = st.RESOURCE.execute(conn, {"id": resource_id})
        return resource_of(rows[0]) if rows else None

    def resource_by_name(self, name: str) -> Resource | None:
        q = resources.select().where(resources.c.name == name).order_by(resources.c.id.desc())
        with self._read() as conn:
            row = conn.execute(q.limit(1)).one_or_none()
        return resource_of(row) if row else None

    def list_resources(
        self,
        states: Collection[ResourceState] | None = None,
        pool: str | None = None,
        page: Page | None = None,
    ) -> list[Resource]:
        q = resources.select()
        if states is not None:
            q = q.where(resources.c.state.in_(list(states)))
            if R.ENDED not in states:
                q = q.where(st.LIVE)  # the index of live rows, not all of history
        if pool is not None:
            q = q.where(resources.c.pool == pool)
        if page is not None:
            return [resource_of(r) for r in self._page(q, resources.c.id, page)]
        with self._read() as conn:
            rows = conn.execute(q).all()
        # Sorted here: ORDER BY id would have SQLite walk the whole table in id order.
        return sorted((resource_of(r) for r in rows), key=lambda r: r.id)

    def live_resources(self) -> list[Resource]:
        with self._read() as conn:
            rows = st.LIVE_RESOURCES.execute(conn)
        return sorted((resource_of(r) for r in rows), key=lambda r: r.id)  # see list_resources

    def spares(self, pools: Collection[str], sandbox: str | None, per_pool: int) -> list[Resource]:
        """That is the planner's order among the resources of one pool (planner/assign.py),
        so its choice is among these, and opening a ticket reads a few rows however many
        spares there are."""
        rows = []
        with self._read() as conn:
            for pool in pools:
                own = []
                if sandbox is not None:
                    params = {"pool": pool, "sandbox": sandbox, "n": per_pool}
                    own = st.SPARES_OF_SANDBOX.execute(conn, params)
                rows += own
                if len(own) < per_pool:
                    params = {"pool": pool, "n": per_pool - len(own)}
                    rows += st.SPARES_UNUSED.execute(conn, params)
        return [resource_of(r) for r in rows]

    def pool_counts(self) -> Mapping[str, Mapping[ResourceState, int]]:
        q = (
            sa.select(resources.c.pool, resources.c.state, sa.func.count())
            .where(st.LIVE)
            .group_by(resources.c.pool, resources.c.state)
        )
        counts: dict[str, dict[ResourceState, int]] = defaultdict(dict)
        with self._read() as conn:
            for pool, state, n in conn.execute(q):
                counts[pool][ResourceState(state)] = n
        return counts

    def create_resource(
        self,
        pool: str,
        tags: list[str],
        name_pattern: str,
        now: float,
        counters: Sequence[str] = (),
        reserved_for: int | None = None,
        claim: Claim | None = None,
    ) -> Resource:
        move = M.CREATE
        with self._write() as conn:
            numbering.lock(conn)
            held = numbering.free_counters(conn, counters)
            id_in_pool = numbering.free_id_in_pool(conn, pool)
            values = {
                "pool": pool,
                "name": "",
                "state": move.target,
                "tags": list(tags),
                "id_in_pool": id_in_pool,
                "created_at": now,
                "state_since": now,
                "counters": held,
                "reserved_for": reserved_for,
                **(changes.hook_claimed(claim) if claim is not None else {}),
            }
            rid = conn.execute(resources.insert().values(values).returning(resources.c.id)).one()
            name = resource_name(name_pattern, pool, rid.id, id_in_pool, now, held)
            conn.execute(resources.update().where(resources.c.id == rid.id).values(name=name))
            note_start(conn, pool, now)
            created = resource_of(
                conn.execute(resources.select().where(resources.c.id == rid.id)).one()
            )
            eventlog.record(conn, events.resource_created(created))
        return created

    def mark_up(self, resource_id: int, data: bytes, now: float) -> bool:
        change = changes.resource_up(data, now)
        return self._move(resources, resource_id, M.MARK_UP, change, now) is not None

    def save_data(self, resource_id: int, data: bytes) -> None:
        if data:
            self._update(resources, resource_id, LIVE_RESOURCE_STATES, {"data": data})

    def set_valid_until(self, resource_id: int, at: float | None) -> None:
        self._update(resources, resource_id, LIVE_RESOURCE_STATES, {"valid_until": at})

    def request_delete(
        self, resource_id: int, among: Collection[ResourceState], message: str, now: float
    ) -> bool:
        change = changes.delete_requested(message, now)
        moved = self._move(
            resources, resource_id, M.REQUEST_DELETE, change, now, among=among, message=message
        )
        return moved is not None

    def start_delete(self, resource_id: int, now: float, claim: Claim | None = None) -> bool:
        change = changes.resource_deleting(now)
        if claim is not None:
            change = {**change, **changes.hook_claimed(claim)}
        return self._move(resources, resource_id, M.START_DELETE, change, now) is not None

    def mark_ended(self, resource_id: int, now: float) -> bool:
        change = changes.resource_ended(now)
        return self._move(resources, resource_id, M.END, change, now) is not None

    def delete_failed(self, resource_id: int, message: str, retry_at: float, now: float) -> bool:
        change = changes.delete_failed(message, retry_at)
        details = {"retry_at": retry_at}
        moved = self._move(
            resources, resource_id, M.DELETE_FAILED, change, now, message=message, details=details
        )
        return moved is not None

    def release(self, resource_id: int, sandbox: str | None, now: float) -> bool:
        change = changes.resource_releasing(sandbox, now)
        moved = self._move(resources, resource_id, M.RELEASE, change, now, message="ticket closed")
        return moved is not None

    def release_done(self, resource_id: int, now: float) -> bool:
        change = changes.resource_released(now)
        return self._move(resources, resource_id, M.RELEASED, change, now) is not None

    def reuse_at_once(self, resource: Resource, sandbox: str, now: float) -> Resource | None:
        """Both transitions are recorded (releasing, released) as if cmd_release had run."""
        first, then = M.RELEASE, M.RELEASED
        change = changes.resource_reused(sandbox, now)
        values = {**change, "state": then.target}
        update = st.guarded_update(resources, first.sources, values, ("releases",))
        with self._write() as conn:
            rows = update.execute(conn, st.guarded_params(resource.id, values))
            if not rows:
                return None
            subject = {"resource_id": resource.id, "pool": resource.pool}
            eventlog.record(
                conn,
                Event(
                    first.event, now, ticket_id=resource.ticket_id, message="ticket closed"
                ).evolve(**subject),
            )
            eventlog.record(conn, Event(then.event, now).evolve(**subject))
        # exactly what the guarded update wrote; no need to read the whole row back
        moved = changes.applied(resource, change, state=then.target)
        return moved.evolve(releases=rows[0].releases)

    def livecheck_passed(self, resource_id: int, now: float) -> bool:
        return self._update(resources, resource_id, CHECKABLE_STATES, changes.livecheck_passed(now))

    def livecheck_failed(self, resource_id: int, attempts: int, message: str, now: float) -> bool:
        change = changes.livecheck_failed(message, now)
        update = st.guarded_update(resources, CHECKABLE_STATES, change, ("livecheck_failures",))
        with self._write() as conn:
            rows = update.execute(conn, st.guarded_params(resource_id, change))
            if not rows:
                return False
            failed = Event(
                K.RESOURCE_LIVECHECK_FAILED,
                now,
                message=message,
                details={"failures": rows[0].livecheck_failures, "attempts": attempts},
            )
            eventlog.record(conn, eventlog.about(conn, failed, rows[0], resources))
        return True

    def hold_resource(self, resource_id: int, reason: str, now: float) -> bool:
        held = Event(K.RESOURCE_HELD, now, message=reason)
        return self._update(resources, resource_id, HOLDABLE_STATES, {"hold_reason": reason}, held)

    def unhold_resource(self, resource_id: int, now: float) -> bool:
        unheld = Event(K.RESOURCE_UNHELD, now)
        return self._update(resources, resource_id, HOLDABLE_STATES, {"hold_reason": None}, unheld)

    def claim_hook(self, resource_id: int, among: Collection[ResourceState], claim: Claim) -> bool:
        change = changes.hook_claimed(claim)
        update = st.guarded_update(resources, among, change, guards=("unclaimed",))
        with self._write() as conn:
            return bool(update.execute(conn, st.guarded_params(resource_id, change)))

    def end_hook(self, resource_id: int, owner: str) -> bool:
        q = (
            resources.update()
            .where(resources.c.id == resource_id, resources.c.hook_owner == owner)
            .values(changes.HOOK_DONE)
        )
        with self._write() as conn:
            return conn.execute(q).rowcount == 1

    def renew_claims(self, owner: str, until: float) -> int:
        q = (
            resources.update()
            .where(st.LIVE, resources.c.hook.is_not(None), resources.c.hook_owner == owner)
            .values(hook_until=until)
        )
        with self._write() as conn:
            return conn.execute(q).rowcount or 0

    def recover_claims(
        self, now: float, owner: str | None = None, resource_id: int | None = None
    ) -> list[int]:
        """cmd_delete must be idempotent (as in resalloc), so running it again on a
        resource whose deletion was interrupted is safe, and a resource whose cmd_new was
        interrupted may exist in the cloud: only cmd_delete can tell. The rows are taken
        with FOR UPDATE SKIP LOCKED: two servers recovering at once take each one once,
        and a row another transaction is claiming or renewing is left to it."""
        move = M.RECOVER
        change = {**changes.delete_requested(RECOVERED, now), "state": move.target}
        dead = resources.c.hook_until < now
        if owner is not None:
            dead = sa.or_(dead, resources.c.hook_owner == owner)
        if resource_id is not None:
            dead = sa.or_(dead, resources.c.id == resource_id)
        found = (
            sa.select(resources.c.id, resources.c.state)
            .where(st.LIVE, resources.c.hook.is_not(None), dead)
            .with_for_update(skip_locked=True)
        )
        with self._write() as conn:
            rows = conn.execute(found).all()
            if not rows:
                return []
            ids = [rid for rid, _ in rows]
            recovered = [rid for rid, state in rows if move.allows(R(state))]
            voided = resources.update().where(resources.c.id.in_(ids))
            conn.execute(voided.values(changes.HOOK_DONE))
            if recovered:
                moved = conn.execute(
                    resources.update()
                    .where(resources.c.id.in_(recovered))
                    .values(change)
                    .returning(resources.c.id, resources.c.pool)
                ).all()
                for rid, pool in moved:
                    event = Event(move.event, now, resource_id=rid, pool=pool, message=RECOVERED)
                    eventlog.record(conn, event)
        return sorted(recovered)


_REUSE = st.guarded_update(
    resources,
    M.RELEASE.sources,
    {**changes.resource_reused(None, 0.0), "state": M.RELEASED.target},
    ("releases",),
)
"""RELEASE and RELEASED in one UPDATE: the statement of every reused resource, built once."""
