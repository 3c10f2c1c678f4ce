"""In-process wake-ups: a new or closed ticket wakes the reconciler; an assignment wakes waiters.

Use cases run on the event loop (SQLite) or in worker threads (PostgreSQL);
the waiters are coroutines on the server's event loop. Everything that
crosses from a thread to the loop goes through `call_soon_threadsafe`, so
waking is immediate and never polled. A use case signals as it goes; the
executor defers those signals until its transaction has committed
(`deferred`), so a waiter woken never reads the state from before.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
from collections import defaultdict
from collections.abc import Callable, Collection, Iterator

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
        self._local = threading.local()
        """Per thread: `deferred`, the signals of the transaction running there."""
        self.stopping = False
        """The server is stopping: waiters answer now with what they have (see stop)."""
        self.waiting = False
        """Whether the reconciler's last pass left tickets waiting. A hint, deciding nothing
        but how soon a resource freed at once wakes the next pass (SOON, else UPKEEP)."""

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Attach to the server's loop; must be called from inside it."""
        self._loop = loop
        self._wake_async = asyncio.Event()

    @contextlib.contextmanager
    def deferred(self) -> Iterator[list[Signal]]:
        """Signals sent on this thread inside the block wait in the list it yields.

        Were a waiter woken before its use case's transaction commits, it
        would read the old state, wait again, and miss the change. Whoever
        defers calls `send` once the writes are committed, and drops the
        list when they are not. Nested blocks share the outer list.
        """
        outer: list[Signal] | None = getattr(self._local, "deferred", None)
        if outer is not None:
            yield outer
            return
        pending: list[Signal] = []
        self._local.deferred = pending
        try:
            yield pending
        finally:
            self._local.deferred = None

    @property
    def deferring(self) -> bool:
        """Whether signals sent on this thread now are deferred."""
        return getattr(self._local, "deferred", None) is not None

    def send(self, pending: list[Signal]) -> None:
        """Send signals deferred until a commit (see `deferred`)."""
        for fn in pending:
            self._dispatch(fn)

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

    def committed_elsewhere(self, ticket_ids: Collection[int] | None) -> None:
        """Another server on the database committed changes to these tickets (None: maybe
        to any, as after a lost connection): their waiters, the followers of the event log
        and the reconciler are woken as by a commit here. From any thread."""
        if self._loop is None:
            return
        if ticket_ids is None:
            self._dispatch(self._wake_all)
        else:
            for ticket_id in ticket_ids:
                self._dispatch(functools.partial(self._resolve, ticket_id))
            self._dispatch(self._resolve_events)
        self.wake_reconciler()

    def stop(self) -> None:
        """The server is stopping: every waiter (long-polls, event streams, XML-RPC waits) is
        woken to answer cleanly now, before the connections are cut. From a signal handler
        or another thread too."""
        self.stopping = True
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake_all)

    def _wake_all(self) -> None:
        for waiters in list(self._waiters.values()):
            for fut in list(waiters):
                if not fut.done():
                    fut.set_result(None)
        self._resolve_events()

    def watch_ticket(self, ticket_id: int) -> asyncio.Future[None]:
        """A future that completes at the ticket's next change; register before reading it."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.stopping:
            fut.set_result(None)
            return fut
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
        if self.stopping:
            fut.set_result(None)
            return fut
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
        pending: list[Signal] | None = getattr(self._local, "deferred", None)
        if pending is not None:
            pending.append(fn)
        else:
            self._dispatch(fn)

    def _dispatch(self, fn: Signal) -> None:
        assert self._loop is not None
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            fn()
        elif not self._loop.is_closed():
            self._loop.call_soon_threadsafe(fn)
