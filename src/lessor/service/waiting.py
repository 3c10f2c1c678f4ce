"""Waiting for a change: a ticket leaving OPEN, new events in the log.

Both wait on the event loop for the signal a commit sends (never polling),
read through the executor (on the loop or in a worker, as it decides), and
register for the next signal before they read, so no change falls between
the read and the wait.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from lessor.domain.events import Event, EventFilter
from lessor.domain.model import Ticket
from lessor.domain.states import TicketState
from lessor.service.core import LessorService
from lessor.service.executor import Executor


async def wait_ticket(
    executor: Executor, service: LessorService, ticket_id: int, timeout: float
) -> Ticket:
    """The ticket as soon as it is no longer OPEN, or as it is after `timeout` seconds, or
    when the server stops (the client asks again, of the server that comes back)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        change = service.signals.watch_ticket(ticket_id)
        try:
            ticket = await executor.run(service.get_ticket, ticket_id)
            remaining = deadline - loop.time()
            if ticket.state is not TicketState.OPEN or remaining <= 0 or service.signals.stopping:
                return ticket
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(change), remaining)
        finally:
            change.cancel()


async def follow_events(
    executor: Executor, service: LessorService, f: EventFilter, heartbeat: float = 15.0
) -> AsyncIterator[list[Event]]:
    """Batches of matching events newer than `f.after_id`, each as soon as it is committed.

    Woken by the store's commit (through the signals), never by polling; an
    empty batch comes after `heartbeat` idle seconds, which keeps proxies
    from closing the stream (other servers' commits wake it too, through
    store/notify.py). It ends when the server stops (a client resumes with
    Last-Event-ID). Every follower takes its events from the service's one
    reader (service/feed.py), not from a query of its own per commit.
    """
    async for batch in service.feed.follow(executor, f, heartbeat):  # one reader for all
        yield batch
