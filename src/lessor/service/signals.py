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

LATER = 0.02
"""Seconds by which `wake_reconciler(soon=True)` defers a pass."""


class Signals:
    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake_async: asyncio.Event | None = None
        self._waiters: dict[int, set[asyncio.Future[None]]] = defaultdict(set)
        self._event_waiters: set[asyncio.Future[None]] = set()
        self._soon_pending = False

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Attach to the server's loop; must be called from inside it."""
        self._loop = loop
        self._wake_async = asyncio.Event()

    # -- reconciler ------------------------------------------------------

    def wake_reconciler(self, *, soon: bool = False) -> None:
        """Ask for a pass now, or `soon` (after LATER seconds) when no one is waiting on it.

        Work nobody waits for (topping up spares after a fast-path assignment,
        recycling after a close) is batched a few milliseconds later, so that
        a pass does not compete for the interpreter with the request that
        caused it while that request is still being answered.
        """
        if self._loop is None or self._wake_async is None:
            return  # no reconciler bound (tools, tests): nobody to wake
        self._call(self._wake_soon if soon else self._wake_async.set)

    def _wake_soon(self) -> None:
        """On the loop: one deferred pass for every `soon` asked within LATER seconds, so a
        busy server runs a pass per LATER at most rather than one per request."""
        if self._soon_pending or self._loop is None:
            return
        self._soon_pending = True

        def wake() -> None:
            self._soon_pending = False
            if self._wake_async is not None:
                self._wake_async.set()

        self._loop.call_later(LATER, wake)

    async def reconciler_woken(self, timeout: float) -> None:
        """Wait until woken or `timeout` passes, then reset the wake flag."""
        assert self._wake_async is not None, "Signals.bind() first"
        if not self._wake_async.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake_async.wait(), timeout)
        self._wake_async.clear()

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

    def _call(self, fn: object) -> None:
        assert self._loop is not None
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            fn()  # type: ignore[operator]
        elif not self._loop.is_closed():
            self._loop.call_soon_threadsafe(fn)  # type: ignore[arg-type]
