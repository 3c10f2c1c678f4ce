"""Followers of the event log share one reader: each commit is read once however many
follow, every follower still gets exactly the events of its filter, in order, once, and
one that starts far behind catches up from the log itself."""

from __future__ import annotations

import asyncio
from pathlib import Path

from lessor.domain.events import Event, EventFilter
from lessor.domain.model import Pool, Tag
from lessor.server import build
from lessor.service import feed


def test_many_followers_one_read_per_commit(tmp_path: Path, monkeypatch: object) -> None:
    parts = build(f"sqlite:///{tmp_path / 'db.sqlite'}", (Pool("p", tags=(Tag("x"),)),))
    service, executor = parts.service, parts.executor
    reads: list[EventFilter] = []
    read = service.store.list_events

    def counted(f: EventFilter) -> list[Event]:
        reads.append(f)
        return read(f)

    service.feed = feed.Feed(service.signals, counted)
    before = [executor.call(service.open_ticket, ["x"], None, 0).ticket.id for _ in range(3)]

    async def run() -> list[list[int]]:
        service.signals.bind(asyncio.get_running_loop())
        filters = [EventFilter(after_id=0)] * 20 + [EventFilter(after_id=0, ticket_id=before[1])]
        streams = [service.feed.follow(executor, f, heartbeat=30) for f in filters]
        seen: list[list[int]] = [[] for _ in streams]

        async def take(i: int, want: int) -> None:
            while len(seen[i]) < want:
                seen[i] += [e.ticket_id or 0 for e in await anext(streams[i])]

        # Each starts behind the reader's window (after_id=0): it catches up from the log.
        await asyncio.gather(*(take(i, 3 if i < 20 else 1) for i in range(len(streams))))
        reads.clear()
        for _ in range(5):
            await executor.run(service.open_ticket, ["x"], None, 0)
        await asyncio.wait_for(asyncio.gather(*(take(i, 8) for i in range(20))), timeout=10)
        return seen

    seen = asyncio.run(run())
    assert all(s == list(range(1, 9)) for s in seen[:20])
    assert seen[20] == [before[1]]
    assert 1 <= len(reads) <= 5 + 1  # one reader, at most a read per commit (not 20 per commit)
    parts.close()
