"""The reconciler: turns the planner's actions into store transitions and hook runs.

Each pass reads a snapshot, plans, and applies in a worker thread the actions
that only touch the database (assign, recycle, fail); actions that need a hook
become tasks on the event loop, and the resource stays in `busy` until its hook
has finished and its outcome is stored. A pass runs whenever something wakes
it (a new ticket, a closed ticket, a finished hook) and otherwise when the
planner says a timed rule is due, or every `sleeptime` seconds at the latest.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from lessor.domain.hooks import Hook
from lessor.domain.matching import offered_tag_names
from lessor.domain.model import Pool, Resource, Snapshot
from lessor.domain.states import ResourceState
from lessor.planner import actions as act
from lessor.planner.actions import Plan
from lessor.planner.plan import plan
from lessor.reconciler.orphans import OrphanSweeper
from lessor.runner.env import hook_env
from lessor.runner.hooks import HookResult, HookRunner
from lessor.service import events
from lessor.service.core import LessorService

log = logging.getLogger(__name__)
R = ResourceState


@dataclass(frozen=True)
class Launch:
    kind: str  # "new", "livecheck", "release", "delete"
    resource: Resource
    pool: Pool


LOG_SUFFIX = {"new": "alloc", "livecheck": "watch", "release": "release", "delete": "terminate"}
HOOK = {
    "new": Hook.NEW,
    "livecheck": Hook.LIVECHECK,
    "release": Hook.RELEASE,
    "delete": Hook.DELETE,
}


class Reconciler:
    def __init__(
        self,
        service: LessorService,
        logdir: Path,
        *,
        sleeptime: float = 20.0,
        retry_base: float = 10.0,
        retry_max: float = 3600.0,
    ) -> None:
        self.service = service
        self.store = service.store
        self.signals = service.signals
        # Server-wide names passed on to hooks (runner/env.py): until server.yaml has a key.
        self.runner = HookRunner(logdir, pass_env=os.environ.get("LESSOR_HOOK_ENV", "").split())
        self.sleeptime = sleeptime
        self.retry_base = retry_base
        self.retry_max = retry_max
        self.busy = service.busy
        self.tasks: set[asyncio.Task[None]] = set()
        self.orphans = OrphanSweeper(self.runner, self.store, self.tasks)
        self.alive = False

    async def run(self) -> None:
        killed = await asyncio.to_thread(self.runner.kill_leftovers)
        if killed:
            log.warning("killed hook processes %s left running by the last stop", killed)
        recovered = await asyncio.to_thread(self.store.recover_after_crash, time.time())
        if recovered:
            log.warning("resources %s were mid-hook at the last stop; deleting them", recovered)
        self.alive = True
        try:
            while True:
                try:
                    wake_at = await self.step()
                except Exception:
                    log.exception("reconciler pass failed; retrying")
                    wake_at = None
                delay = self.sleeptime
                if wake_at is not None:
                    delay = max(0.0, min(delay, wake_at - time.time()))
                await self.signals.reconciler_woken(delay)
        finally:
            self.alive = False
            for task in self.tasks:
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)

    async def step(self) -> float | None:
        launches, wake_at = await self.service.run(self._plan_and_apply, frozenset(self.busy))
        for launch in launches:
            self.busy.add(launch.resource.id)
            task = asyncio.create_task(self._hook(launch))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        list_at = self.orphans.start_due(self.service.pools, time.time())
        return min((t for t in (wake_at, list_at) if t is not None), default=None)

    def _plan_and_apply(self, busy: frozenset[int]) -> tuple[list[Launch], float | None]:
        """One pass: its actions commit in one transaction, and then waiters are told."""
        snapshot = self.service.snapshot(busy)
        decided = plan(snapshot)
        self.service.waiting_reasons = dict(decided.reasons)
        if not decided.actions:
            return [], decided.wake_at
        touched: list[int] = []
        with self.store.atomic():
            launches, changed = self._apply(snapshot, decided, touched)
        for ticket_id in touched:
            self.signals.ticket_changed(ticket_id)
        if changed:
            self.signals.wake_reconciler()
        return launches, decided.wake_at

    def _apply(
        self, snapshot: Snapshot, decided: Plan, touched: list[int]
    ) -> tuple[list[Launch], bool]:
        """Apply the plan; `touched` gets the tickets whose waiters to wake. True: changes
        that the next pass must look at (recycled, retired, expired)."""
        resources = {r.id: r for r in snapshot.resources}
        pools = {p.name: p for p in snapshot.pools}
        tickets = {t.id: t for t in snapshot.tickets}
        launches: list[Launch] = []
        changed = False
        now = snapshot.now
        for a in decided.actions:
            match a:
                case act.Assign(ticket_id, resource_id):
                    if self.store.assign(ticket_id, resource_id, now):
                        touched.append(ticket_id)
                case act.FailTicket(ticket_id, message):
                    if self.store.fail_ticket(ticket_id, message, now):
                        touched.append(ticket_id)
                case act.ExpireTicket(ticket_id, message):
                    if self.store.expire_ticket(ticket_id, message, now):
                        touched.append(ticket_id)
                        changed = True  # its resource is recycled in the next pass
                case act.ReportOnTicket(ticket_id, message):
                    if self.store.set_ticket_message(ticket_id, message):
                        touched.append(ticket_id)
                case act.Start(pool_name, for_ticket):
                    pool = pools[pool_name]
                    tags = sorted(offered_tag_names(pool))
                    created = self.store.create_resource(
                        pool.name,
                        tags,
                        pool.name_pattern,
                        now,
                        pool.named_counters,
                        reserved_for=for_ticket,
                    )
                    launches.append(Launch("new", created, pool))
                case act.Recycle(resource_id, reuse):
                    r = resources[resource_id]
                    ticket = tickets.get(r.ticket_id) if r.ticket_id is not None else None
                    sandbox = ticket.sandbox if ticket else r.sandbox
                    changed |= self.store.recycle(resource_id, reuse, sandbox, now)
                case act.Retire(resource_id, reason):
                    changed |= self.store.request_delete(resource_id, [R.UP], reason, now)
                case act.Livecheck(resource_id):
                    r = resources[resource_id]
                    launches.append(Launch("livecheck", r, pools[r.pool]))
                case act.Release(resource_id):
                    r = resources[resource_id]
                    if pools[r.pool].cmd_release:
                        launches.append(Launch("release", r, pools[r.pool]))
                    else:
                        changed |= self.store.release_done(resource_id, now)
                case act.Delete(resource_id):
                    r = resources[resource_id]
                    if not self.store.start_delete(resource_id, now):
                        continue
                    if pools[r.pool].cmd_delete:
                        launches.append(Launch("delete", r, pools[r.pool]))
                    else:
                        self.store.mark_ended(resource_id, now)
        return launches, changed

    async def _hook(self, launch: Launch) -> None:
        r, pool = launch.resource, launch.pool
        command = {
            "new": pool.cmd_new,
            "livecheck": pool.cmd_livecheck,
            "release": pool.cmd_release,
            "delete": pool.cmd_delete,
        }[launch.kind]
        try:
            if command:
                hook = HOOK[launch.kind]
                await self.service.run(self._hook_event, launch, None)
                checking = launch.kind == "livecheck"
                timeout = pool.livecheck_timeout if checking else pool.hook_timeout
                result = await self.runner.run(
                    command,
                    hook_env(r, hook),
                    hook=hook,
                    resource_id=r.id,
                    timeout=timeout,
                    secret=pool.secret_data,
                )
                await self.service.run(self._finished, launch, result)
                if hook is Hook.NEW:
                    self.runner.discard_output(r.id)  # its outcome is stored
            else:
                await self.service.run(self._record, launch, HookResult(0, b"", 0.0))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("recording the outcome of %s for resource %s failed", launch.kind, r.id)
        finally:
            self.busy.discard(r.id)
            self.signals.wake_reconciler()

    def _finished(self, launch: Launch, result: HookResult) -> None:
        """The hook's event and its outcome, in one transaction."""
        with self.store.atomic():
            self._hook_event(launch, result)
            self._record(launch, result)

    def _hook_event(self, launch: Launch, result: HookResult | None) -> None:
        """hook.started (no result yet) or hook.finished, for the resource's event log."""
        r, name, now = launch.resource, f"cmd_{launch.kind}", time.time()
        if result is None:
            event = events.hook_started(name, r.id, r.pool, LOG_SUFFIX[launch.kind], now)
        else:
            said = result.describe(name) if not result.ok else f"{name} succeeded"
            event = events.hook_finished(
                name,
                r.id,
                r.pool,
                LOG_SUFFIX[launch.kind],
                result.exit_code,
                result.duration,
                said,
                now,
            )
        if launch.kind == "livecheck" and (result is None or result.ok):
            # Not a change: a passing check is only counted, or the log would
            # be mostly livechecks (one per resource every livecheck_period).
            if result is not None:
                self.service.metrics.observe([event])
            return
        self.store.record_events([event])

    def _record(self, launch: Launch, result: HookResult) -> None:
        r, pool, now = launch.resource, launch.pool, time.time()
        name = f"cmd_{launch.kind}"
        match launch.kind:
            case "new":
                if not result.ok:
                    log.warning("%s: %s", r.name, result.describe(name))
                    self.store.request_delete(r.id, [R.STARTING], result.describe(name), now)
                    self.store.save_data(r.id, result.data)
                elif not self.store.mark_up(r.id, result.data, now):
                    self.store.save_data(r.id, result.data)  # cmd_delete may need it
            case "livecheck":
                if result.ok:
                    self.store.livecheck_passed(r.id, now)
                else:
                    state = self.store.livecheck_failed(
                        r.id, pool.livecheck_attempts, result.describe(name), now
                    )
                    log.warning("%s: %s (now %s)", r.name, result.describe(name), state)
            case "release":
                if result.ok:
                    self.store.release_done(r.id, now)
                else:
                    self.store.request_delete(r.id, [R.RELEASING], result.describe(name), now)
            case "delete":
                if result.ok:
                    self.store.mark_ended(r.id, now)
                else:
                    attempts = r.delete_attempts + 1
                    delay = min(self.retry_max, self.retry_base * 2 ** (attempts - 1))
                    log.warning("%s: %s; retry in %.0fs", r.name, result.describe(name), delay)
                    self.store.delete_failed(r.id, result.describe(name), now + delay, now)
