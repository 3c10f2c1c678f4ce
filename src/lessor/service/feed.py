"""One reader of the event log for every follower (every open UI tab, every `events -f`).

Each follower used to read the log itself at every commit: N followers, N
queries a commit, and the ticket path paid for them (700 open+close cycles/s
fell to 12.6/s with 50 followers). Here one task reads what each commit
wrote, once, into a bounded window of recent events, and every follower
takes what matches its filter from that window, in memory. A follower that
starts or falls behind the window reads the log itself until it catches up.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from lessor.domain.events import Event, EventFilter
from lessor.service.executor import Executor
from lessor.service.signals import Signals

PAGE = 2000
"""Events read per query."""

KEEP = 10_000
"""Recent events the window holds at least (at most twice that): memory stays bounded."""

log = logging.getLogger(__name__)


class Feed:
    def __init__(self, signals: Signals, read: Callable[[EventFilter], list[Event]]) -> None:
        self.signals = signals
        self._read = read
        self._window: list[Event] = []
        self.floor = 0
        """The window holds every event with floor < id <= last."""
        self.last = 0
        self._changed: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None

    async def follow(
        self, executor: Executor, f: EventFilter, heartbeat: float
    ) -> AsyncIterator[list[Event]]:
        """Batches of events matching `f` newer than `f.after_id`, each as soon as the reader
        has them; an empty batch after `heartbeat` idle seconds (the caller's keep-alive).
        It ends when the server stops."""
        await self._start(executor, heartbeat)
        after = f.after_id or 0
        while not self.signals.stopping:
            if after < self.floor:  # older than the window: from the log itself
                known = self.last
                batch = await executor.run_in_worker(
                    self._read, f.evolve(after_id=after, limit=PAGE)
                )
                # A short page is all there is: every event up to `known` was in it.
                after = (
                    batch[-1].id
                    if len(batch) == PAGE
                    else max(after, known, *(e.id for e in batch[-1:]))
                )
                if batch:
                    yield batch
                continue
            changed = self._changed
            assert changed is not None
            start = bisect.bisect_right(self._window, after, key=lambda e: e.id)
            batch = [e for e in self._window[start:] if f.matches(e)]
            after = max(after, self.last)
            if batch:
                yield batch
                continue
            try:
                await asyncio.wait_for(asyncio.shield(changed), heartbeat)
            except TimeoutError:
                yield []

    async def _start(self, executor: Executor, heartbeat: float) -> None:
        if self._running():
            return
        newest = await executor.run_in_worker(self._read, EventFilter(limit=1))
        if self._running():  # another follower started it meanwhile
            return
        self._window = []
        self.floor = self.last = newest[-1].id if newest else 0
        self._changed = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._run(executor, heartbeat))

    def _running(self) -> bool:
        """Whether the reader runs, on this event loop (a test may run several in turn)."""
        task = self._task
        return (
            task is not None and not task.done() and task.get_loop() is asyncio.get_running_loop()
        )

    async def _run(self, executor: Executor, heartbeat: float) -> None:
        """Read each commit's events once; wake every follower. Idle, read every `heartbeat`
        seconds anyway: other servers' commits on a shared database do not wake this one."""
        try:
            while not self.signals.stopping:
                change = self.signals.watch_events()
                try:
                    batch = await executor.run_in_worker(
                        self._read, EventFilter(after_id=self.last, limit=PAGE)
                    )
                except Exception:  # the database away a moment: followers wait, then it retries
                    log.exception("reading the event log for followers")
                    batch = []
                try:
                    if not batch:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(asyncio.shield(change), heartbeat)
                        continue
                finally:
                    change.cancel()
                self._take(batch)
        finally:
            self._wake()  # a stopping server: followers end

    def _take(self, batch: list[Event]) -> None:
        self._window += batch
        self.last = batch[-1].id
        if len(self._window) > 2 * KEEP:
            self.floor = self._window[-KEEP - 1].id
            del self._window[:-KEEP]
        self._wake()

    def _wake(self) -> None:
        changed, self._changed = self._changed, asyncio.get_running_loop().create_future()
        if changed is not None and not changed.done():
            changed.set_result(None)
