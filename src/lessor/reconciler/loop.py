"""The reconciler: plans, applies the plan, and runs the hooks it launches.

Each pass reads a snapshot, plans, and applies the plan in one transaction
(service/apply.py says what each action does and claims the hooks to run);
the hooks then run as tasks on the event loop, and each one's outcome is
stored, and its claim ended, in a transaction of its own. A pass runs
whenever something wakes it (a new ticket, a closed ticket, a finished
hook) and otherwise when the planner says a timed rule falls due, or every
`sleeptime` seconds at the latest.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec

from lessor.domain.hooks import Hook
from lessor.domain.model import Snapshot
from lessor.domain.states import ResourceState
from lessor.planner.actions import Plan
from lessor.planner.plan import plan
from lessor.reconciler.orphans import OrphanSweeper
from lessor.reconciler.poolsfile import PoolsFileWatch
from lessor.runner.env import hook_env
from lessor.runner.hooks import HookResult, HookRunner
from lessor.service import events
from lessor.service.apply import CLAIM_LEASE, Applied, HookOutcome, Launch
from lessor.service.core import LessorService
from lessor.service.errors import database_unreachable
from lessor.service.executor import Executor, writes

log = logging.getLogger(__name__)
P = ParamSpec("P")


class Deposed(Exception):
    """Another server took the lead: a plan made under this epoch is not applied."""


class Reconciler:
    def __init__(
        self,
        service: LessorService,
        executor: Executor,
        runner: HookRunner,
        *,
        sleeptime: float = 20.0,
        pools_file: Path | None = None,
    ) -> None:
        self.service = service
        self.executor = executor
        self.store = service.store
        self.signals = service.signals
        self.applier = service.applier
        self.runner = runner
        self.sleeptime = sleeptime
        self.tasks: set[asyncio.Task[None]] = set()
        self.orphans = OrphanSweeper(self.runner, self.store, self.tasks)
        self.pools_file = (
            PoolsFileWatch(pools_file, service, executor) if pools_file is not None else None
        )
        """pools.yaml, reloaded when it changes (see poolsfile.py)."""
        self.alive = False
        self.leadership = self.store.leadership()
        self.epoch: int | None = None
        """The leadership epoch this server plans under; None while another server leads."""

    async def run(self) -> None:
        killed = await asyncio.to_thread(self.runner.kill_leftovers)
        if killed:
            log.warning("killed hook processes %s left running by the last stop", killed)
        recovered = await self.executor.run(self._recover)
        for rid in recovered:
            self.runner.discard_output(rid)  # stored as its data
        if recovered:
            log.warning("resources %s were mid-hook at the last stop; deleting them", recovered)
        self.alive = True
        try:
            await self._lead_once()
        except Exception:
            log.exception("taking the lead failed; retrying")
        leases = asyncio.create_task(self._keep_claims(), name="claims")
        lead = asyncio.create_task(self._keep_lead(), name="leadership")
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
            leases.cancel()
            lead.cancel()
            await asyncio.gather(leases, lead, return_exceptions=True)
            await asyncio.to_thread(self.leadership.close)
            for task in self.tasks:
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)

    @writes
    def _recover(self) -> list[int]:
        """What this server's hooks left half done when it last stopped goes to cmd_delete,
        with whatever its cmd_new had printed so far as its data (an instance id, for
        one); so does what a server that died left, once its claims' lease ran out. The
        hooks of the servers still alive are theirs: they renew their claims."""
        owner = self.applier.owner
        for r in self.store.list_resources([ResourceState.STARTING]):
            printed = self.runner.recover_output(r.id) if r.hook_owner == owner else None
            if printed:
                self.store.save_data(r.id, printed)
        return self.store.recover_claims(self.service.clock(), owner)

    @writes
    def _renew(self) -> list[int]:
        """Renew this server's claims, then recover those of the servers that died."""
        now = self.service.clock()
        self.store.renew_claims(self.applier.owner, now + CLAIM_LEASE)
        return self.store.recover_claims(now)

    async def _keep_claims(self) -> None:
        """Every third of a lease: this server's claims renewed, a dead one's recovered."""
        while True:
            await asyncio.sleep(CLAIM_LEASE / 3)
            try:
                recovered = await self.executor.run(self._renew)
            except Exception:
                log.exception("renewing hook claims failed; retrying")
                continue
            if recovered:
                log.warning(
                    "resources %s were mid-hook on a server that died; deleting them", recovered
                )
                self.signals.wake_reconciler()

    async def _lead_once(self) -> None:
        """Take the lead if it is free (or keep it); a new lead gets a new epoch."""
        leads = await asyncio.to_thread(self.leadership.keep)
        if leads and self.epoch is None:
            self.epoch = await self.executor.run(self._take_lead)
            if not self.leadership.sole:
                log.warning("this server leads the planning now (epoch %s)", self.epoch)
            self.signals.wake_reconciler()
        elif not leads and self.epoch is not None:
            log.warning("this server no longer leads the planning (epoch %s)", self.epoch)
            self.epoch = None

    async def _keep_lead(self) -> None:
        """Every heartbeat: the lead renewed, or taken when its leader is gone."""
        if self.leadership.sole:
            return
        while True:
            await asyncio.sleep(self.leadership.heartbeat)
            try:
                await self._lead_once()
            except Exception:
                log.exception("taking the lead failed; retrying")

    @writes
    def _take_lead(self) -> int:
        return self.store.take_lead()

    async def step(self) -> float | None:
        """One pass; when the next is due if nothing wakes us before."""
        if self.pools_file is not None:
            await self.pools_file.reload_if_changed()
        epoch = self.epoch
        if epoch is None:
            return None  # another server plans; the lead, once taken, wakes this one
        snapshot = await self.executor.run(self.service.snapshot)
        decided = plan(snapshot)
        self.signals.waiting = bool(decided.reasons)
        if decided.actions:
            try:
                applied = await self.executor.run(self._apply, epoch, snapshot, decided)
            except Deposed:
                log.warning("a newer leader plans now; epoch %s is over", epoch)
                if self.epoch == epoch:
                    self.epoch = None
                return None
            for launch in applied.launches:
                task = asyncio.create_task(self._hook(launch))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
        list_at = self.orphans.start_due(self.service.pools, time.time())
        return min((t for t in (decided.wake_at, list_at) if t is not None), default=None)

    @writes
    def _apply(self, epoch: int, snapshot: Snapshot, decided: Plan) -> Applied:
        """The plan's actions in one transaction, if this server still leads (fenced by its
        epoch); waiters and the next pass told after it."""
        if not self.store.fenced(epoch):
            raise Deposed(epoch)
        applied = self.applier.apply(snapshot, decided)
        for ticket_id in applied.touched:
            self.signals.ticket_changed(ticket_id)
        if applied.changed:
            self.signals.wake_reconciler()
        return applied

    async def _hook(self, launch: Launch) -> None:
        r, pool, hook = launch.resource, launch.pool, launch.hook
        command = pool.command(hook)
        try:
            if command:
                await self._stored(self._hook_event, launch, None)
                result = await self.runner.run(
                    command,
                    hook_env(r, hook, launch.expires_at),
                    hook=hook,
                    resource_id=r.id,
                    timeout=pool.timeout(hook),
                    cwd=pool.hook_dir,
                    secret=pool.secret_data,
                )
            else:
                result = HookResult(0, b"", 0.0)  # the pool lost the hook in a reload
            await self._stored(self._finished, launch, result)
            if hook is Hook.NEW:
                self.runner.discard_output(r.id)  # its outcome is stored
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("recording the outcome of %s for resource %s failed", hook, r.id)
            await self._give_up(r.id)
        finally:
            self.signals.wake_reconciler()

    async def _give_up(self, resource_id: int) -> None:
        """A hook whose outcome could not be stored (a bug, not the database away) is handled
        as one cut off: its resource is RECOVERed to cmd_delete now. Kept, the claim would be
        renewed by this server for as long as it lives, and the resource left mid-hook."""
        try:
            await self.executor.run(self._recover_one, resource_id)
        except Exception:  # the periodic recovery cannot take it: the claim is still renewed
            log.exception("recovering resource %s after its hook failed", resource_id)

    @writes
    def _recover_one(self, resource_id: int) -> list[int]:
        return self.store.recover_claims(self.service.clock(), resource_id=resource_id)

    async def _stored(self, use_case: Callable[P, None], *args: P.args, **kwargs: P.kwargs) -> None:
        """Run a write of a hook's record until it is stored, however long the database is
        away. Giving up would leave the hook's claim to this server, which renews it while
        it lives: no other server would recover it, and the resource would stay mid-hook
        for ever though its hook has long finished (a deleted instance still DELETING)."""
        pause = 0.2
        while True:
            try:
                await self.executor.run(use_case, *args, **kwargs)
                return
            except Exception as e:
                if not database_unreachable(e):
                    raise
                log.warning("the database cannot be reached; storing a hook's record again")
            await asyncio.sleep(pause)  # a back-off while the database is away
            pause = min(pause * 2, 5.0)

    @writes
    def _finished(self, launch: Launch, result: HookResult) -> None:
        """The hook's event and its outcome, in one transaction."""
        hook, r = launch.hook, launch.resource
        said = result.describe(hook) if not result.ok else ""
        if said:
            log.warning("%s: %s", r.name, said)
        self._hook_event(launch, result)
        tail = ""
        if hook is Hook.NEW and not result.ok and not launch.pool.secret_data:
            tail = self.runner.log_tail(r.id, hook)
        outcome = HookOutcome(result.ok, result.data, said, tail)
        self.applier.finished(launch, outcome, self.service.clock())

    @writes
    def _hook_event(self, launch: Launch, result: HookResult | None) -> None:
        """hook.started (no result yet) or hook.finished, for the resource's event log."""
        hook, r, now = launch.hook, launch.resource, time.time()
        suffix = hook.log_suffix
        if result is None:
            event = events.hook_started(hook, r.id, r.pool, suffix, now)
        else:
            said = result.describe(hook) if not result.ok else f"{hook} succeeded"
            event = events.hook_finished(
                hook, r.id, r.pool, suffix, result.exit_code, result.duration, said, now
            )
        if hook is Hook.LIVECHECK and (result is None or result.ok):
            # Not a change: a passing check is only counted, or the log would
            # be mostly livechecks (one per resource every livecheck_period).
            if result is not None:
                self.service.metrics.observe([event])
            return
        self.store.record_events([event])
