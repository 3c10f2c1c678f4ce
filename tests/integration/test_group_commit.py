"""Group commit on SQLite: the requests of one turn of the event loop share a transaction.

What a client must be able to count on all the same: an answer tells only of
what is committed (another connection sees it), a refused request costs the
others nothing, and a failure after writing loses no acknowledged change.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lessor.domain.events import Event
from lessor.domain.model import Pool, Tag
from lessor.domain.states import TicketState as T
from lessor.server import Parts, build
from lessor.service.errors import NoPoolForTags
from lessor.service.keys import Proof
from lessor.service.waiting import wait_ticket
from lessor.store.sql import SqlStore

NOW = 1_700_000_000.0
POOLS = (Pool("p", tags=(Tag("x"),)),)


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'lessor.sqlite'}"


@pytest.fixture
def parts(url: str) -> Iterator[Parts]:
    built = build(url, POOLS, clock=lambda: NOW)
    yield built
    built.close()


def committed_tickets(url: str) -> dict[int, T]:
    """The tickets as another connection sees them: what is committed."""
    other = SqlStore.connect(url, migrate_schema=False)
    try:
        return {t.id: t.state for t in other.list_tickets()}
    finally:
        other.close()


def test_concurrent_requests_commit_together_and_answer_only_once_committed(
    parts: Parts, url: str
) -> None:
    batches: list[list[Event]] = []
    parts.transactions.on_events = batches.append
    service, grouped = parts.service, parts.executor.run_grouped

    async def main() -> list[Any]:
        return await asyncio.gather(*(grouped(service.open_ticket, ["x"]) for _ in range(3)))

    held = asyncio.run(main())
    ids = [h.ticket.id for h in held]
    assert committed_tickets(url) == {i: T.OPEN for i in ids}
    assert len(batches) == 1, "one transaction, so its listeners hear of it once"
    assert sorted(e.ticket_id for e in batches[0]) == ids


def test_a_refused_request_leaves_the_others_of_its_group_alone(parts: Parts, url: str) -> None:
    service, grouped = parts.service, parts.executor.run_grouped

    async def main() -> list[Any]:
        return await asyncio.gather(
            grouped(service.open_ticket, ["x"]),
            grouped(service.open_ticket, ["no-such-tag"]),
            grouped(service.open_ticket, ["x"]),
            return_exceptions=True,
        )

    first, refused, last = asyncio.run(main())
    assert isinstance(refused, NoPoolForTags)
    assert committed_tickets(url) == {first.ticket.id: T.OPEN, last.ticket.id: T.OPEN}


def test_a_failure_after_writing_fails_its_group_and_keeps_nothing_of_it(
    parts: Parts, url: str
) -> None:
    """The requests before it in the group hear of the error: nothing of theirs is kept,
    so no answer ever told of a ticket that is not there."""

    service, grouped = parts.service, parts.executor.run_grouped

    def writes_then_fails() -> None:
        service.store.open_ticket(["x"], None, 0, NOW)
        raise RuntimeError("the disk is on fire")

    async def main() -> list[Any]:
        return await asyncio.gather(
            grouped(service.open_ticket, ["x"]),
            grouped(writes_then_fails),
            grouped(service.open_ticket, ["x"]),
            return_exceptions=True,
        )

    before, failed, after = asyncio.run(main())
    assert isinstance(before, RuntimeError) and isinstance(failed, RuntimeError)
    assert committed_tickets(url) == {after.ticket.id: T.OPEN}


def test_a_waiter_woken_by_a_grouped_close_sees_it_closed(parts: Parts) -> None:
    service, grouped = parts.service, parts.executor.run_grouped
    opened = parts.executor.call(service.open_ticket, ["x"])  # no spare: it waits
    ticket = opened.ticket

    async def main() -> T:
        service.signals.bind(asyncio.get_running_loop())
        waiter = asyncio.create_task(wait_ticket(parts.executor, service, ticket.id, 10.0))
        await asyncio.sleep(0)  # the waiter reads OPEN and starts waiting
        await asyncio.gather(
            grouped(service.open_ticket, ["x"]),
            grouped(service.close_ticket, ticket.id, Proof(key=opened.key)),
        )
        return (await asyncio.wait_for(waiter, 5.0)).state

    assert asyncio.run(main()) is T.CLOSED
