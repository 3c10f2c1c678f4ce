"""cmd_list: the last resort against leaks, as resalloc has it.

Every `list_period` seconds (and once at start, when a crash may just have
left something behind) each pool's cmd_list prints the names of the
instances that really exist, whitespace-separated. Any name that no live
resource of any pool carries is an instance nobody tracks: it costs money and
nobody will ever delete it, so its pool's cmd_delete runs for it, with
RESALLOC_NAME set to the name. cmd_delete must be idempotent, so deleting an
instance that was on its way out anyway is harmless.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable

from lessor.domain.hooks import Hook
from lessor.domain.model import Pool
from lessor.runner.env import UNTRACKED_ID, untracked_env
from lessor.runner.hooks import HookRunner
from lessor.store.interface import Store

log = logging.getLogger(__name__)

UNTRACKED_DELETE_TIMEOUT = 120.0
"""Seconds a cmd_delete of an instance nobody tracks may run, as resalloc allows it (or the
pool's hook_timeout, if shorter): one hung delete must not hold up the rest of the sweep."""


class OrphanSweeper:
    def __init__(self, runner: HookRunner, store: Store, tasks: set[asyncio.Task[None]]) -> None:
        self.runner = runner
        self.store = store
        self.tasks = tasks
        self.next_at: dict[str, float] = {}
        self.running: set[str] = set()

    def start_due(self, pools: Iterable[Pool], now: float) -> float | None:
        """Start the sweeps that are due; return when the next one will be."""
        upcoming: list[float] = []
        for pool in pools:
            if not pool.cmd_list or pool.name in self.running:
                continue
            due = self.next_at.get(pool.name, now)
            if due <= now:
                self.running.add(pool.name)
                task = asyncio.create_task(self._sweep(pool), name=f"cmd_list {pool.name}")
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
            else:
                upcoming.append(due)
        return min(upcoming) if upcoming else None

    async def _sweep(self, pool: Pool) -> None:
        try:
            deleted = await self.sweep(pool)
            if deleted:
                log.warning("pool %s: deleted untracked instances %s", pool.name, deleted)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("pool %s: cmd_list sweep failed", pool.name)
        finally:
            self.running.discard(pool.name)
            self.next_at[pool.name] = time.time() + pool.list_period

    async def sweep(self, pool: Pool) -> list[str]:
        """Run cmd_list once and cmd_delete for every listed name we do not track."""
        assert pool.cmd_list
        listed = await self.runner.run(
            pool.cmd_list,
            untracked_env(Hook.LIST, pool.name, None),
            hook=Hook.LIST,
            resource_id=UNTRACKED_ID,
            timeout=pool.hook_timeout,
            cwd=pool.hook_dir,
        )
        if not listed.ok:
            log.warning("pool %s: %s; nothing deleted", pool.name, listed.describe("cmd_list"))
            return []
        names = list(dict.fromkeys(listed.stdout.decode(errors="replace").split()))
        # Read what we track only now, after the listing: a resource created
        # meanwhile is then known, and one ended meanwhile is deleted again,
        # which an idempotent cmd_delete shrugs off.
        tracked = {r.name for r in await asyncio.to_thread(self.store.live_resources)}
        orphans = [n for n in names if n not in tracked]
        if orphans and not pool.cmd_delete:
            log.warning(
                "pool %s: untracked %s, but no cmd_delete to remove them", pool.name, orphans
            )
            return []
        deleted = []
        for name in orphans:
            assert pool.cmd_delete
            done = await self.runner.run(
                pool.cmd_delete,
                untracked_env(Hook.DELETE, pool.name, name),
                hook=Hook.DELETE,
                resource_id=UNTRACKED_ID,
                timeout=min(pool.hook_timeout, UNTRACKED_DELETE_TIMEOUT),
                cwd=pool.hook_dir,
            )
            if done.ok:
                deleted.append(name)
            else:
                log.warning(
                    "pool %s: untracked %s: %s", pool.name, name, done.describe("cmd_delete")
                )
        return deleted
