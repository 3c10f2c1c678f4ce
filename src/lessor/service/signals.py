"""In-process wake-ups: a new or closed ticket wakes the reconciler; an assignment wakes waiters.

Use cases run in worker threads (sync API handlers) and in the reconciler; the
waiters are coroutines on the server's event loop. Everything that crosses
from a thread to the loop goes through `call_soon_threadsafe`, so waking is
immediate and never polled.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Callable, Iterator

Signal = Callable[[], object]
"""A wake-up to run on the loop."""

SOON = 0.02
"""Seconds by which a pass is deferred for work someone may be waiting on (a freed
resource a queued ticket could take)."""
UPKEEP = 0.25
"""Seconds by which a pass is deferred for work nobody waits on: topping up spares after
a ticket took one at once, looking over a resource reused at once."""


class Signals:
    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake_async: asyncio.Event | None = None
        self._waiters: dict[int, set[asyncio.Future[None]]] = defaultdict(set)
        self._event_waiters: set[asyncio.Future[None]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._held: list[Signal] | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Attach to the server's loop; must be called from inside it."""
        self._loop = loop
        self._wake_async = asyncio.Event()

    @contextlib.contextmanager
    def held(self) -> Iterator[list[Signal]]:
        """Signals sent on the loop inside the block wait in the list it yields.

        A use case whose transaction commits later (a part of a group
        commit) signals as it goes; were a waiter woken before the commit, it
        would read the old state, wait again, and miss the change. Whoever
        holds them calls `release` once the writes are committed.
        """
        assert self._held is None, "signals are held already"
        held: list[Signal] = []
        self._held = held
        try:
            yield held
        finally:
            self._held = None

    @staticmethod
    def release(held: list[Signal]) -> None:
        for fn in held:
            fn()

    # -- reconciler ------------------------------------------------------

    def wake_reconciler(self, delay: float = 0.0) -> None:
        """Ask for a pass now, or within `delay` seconds (SOON, UPKEEP) when nobody waits on it.

        A deferred pass is one for every request made until it starts, so a
        busy server runs a pass per SOON or UPKEEP rather than one per
        request, and the pass does not compete for the interpreter with the
        requests that asked for it while they are being answered.
        """
        if self._loop is None or self._wake_async is None:
            return  # no reconciler bound (tools, tests): nobody to wake
        if delay <= 0:
            self._call(self._wake_async.set)
        else:
            self._call(lambda: self._wake_within(delay))

    def _wake_within(self, delay: float) -> None:
        """On the loop: the pending deferred wake-up, moved earlier if need be."""
        assert self._loop is not None and self._wake_async is not None
        due = self._loop.time() + delay
        if self._timer is not None:
            if self._timer.when() <= due:
                return
            self._timer.cancel()
        self._timer = self._loop.call_at(due, self._wake_async.set)

    async def reconciler_woken(self, timeout: float) -> None:
        """Wait until woken or `timeout` passes, then reset the wake flag: the pass that
        follows covers every request made before it, deferred ones included."""
        assert self._wake_async is not None, "Signals.bind() first"
        if not self._wake_async.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake_async.wait(), timeout)
        self._wake_async.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # -- tickets ---------------------------------------------------------

    def ticket_changed(self, ticket_id: int) -> None:
        if self._loop is not None:
            self._call(lambda: self._resolve(ticket_id))

    def watch_ticket(self, ticket_id: int) -> asyncio.Future[None]:
        """A future that completes at the ticket's next change; register before reading it."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters[ticket_id].add(fut)
        fut.add_done_callback(lambda f: self._forget(ticket_id, f))
        return fut

    # -- the event log ---------------------------------------------------

    def events_recorded(self) -> None:
        """New events are committed: followers of the log (SSE streams) read them now."""
        if self._loop is not None and self._event_waiters:
            self._call(self._resolve_events)

    def watch_events(self) -> asyncio.Future[None]:
        """A future that completes when the next events are committed; register before reading."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._event_waiters.add(fut)
        fut.add_done_callback(self._event_waiters.discard)
        return fut

    def _resolve_events(self) -> None:
        for fut in list(self._event_waiters):
            if not fut.done():
                fut.set_result(None)

    def _resolve(self, ticket_id: int) -> None:
        for fut in list(self._waiters.get(ticket_id, ())):
            if not fut.done():
                fut.set_result(None)

    def _forget(self, ticket_id: int, fut: asyncio.Future[None]) -> None:
        waiters = self._waiters.get(ticket_id)
        if waiters is not None:
            waiters.discard(fut)
            if not waiters:
                del self._waiters[ticket_id]

    def _call(self, fn: Signal) -> None:
        assert self._loop is not None
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            if self._held is not None:
                self._held.append(fn)
            else:
                fn()
        elif not self._loop.is_closed():
            self._loop.call_soon_threadsafe(fn)
