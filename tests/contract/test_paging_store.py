"""Keyset pages on every store: each row once, in id order (or newest first), whatever the
filter, and a page holds only rows beyond its cursor."""

from __future__ import annotations

from lessor.domain.paging import Page
from lessor.domain.states import ResourceState as R
from lessor.domain.states import TicketState as T
from lessor.store.interface import Store

NOW = 1_700_000_000.0
PATTERN = "{pool_name}_{id:08d}_{datetime}"


def test_ticket_pages_hold_each_ticket_once_in_id_order(store: Store) -> None:
    ids = [store.open_ticket(["x"], None, 0, NOW).id for _ in range(7)]
    assert store.close_ticket(ids[2], NOW)
    seen: list[int] = []
    after = None
    while True:
        page = store.list_tickets([T.OPEN], Page(limit=2, after=after))
        assert len(page) <= 2
        if not page:
            break
        seen += [t.id for t in page]
        after = page[-1].id
    assert seen == [i for i in ids if i != ids[2]]


def test_newest_first_pages_walk_history_backwards(store: Store) -> None:
    ids = [store.open_ticket(["x"], None, 0, NOW).id for _ in range(5)]
    first = store.list_tickets(None, Page(limit=2, newest_first=True))
    assert [t.id for t in first] == [ids[4], ids[3]]
    rest = store.list_tickets(None, Page(limit=10, after=ids[3], newest_first=True))
    assert [t.id for t in rest] == [ids[2], ids[1], ids[0]]


def test_resource_pages_keep_the_pool_and_state_filters(store: Store) -> None:
    made = [store.create_resource(p, ["x"], PATTERN, NOW) for p in ("a", "b", "a", "a", "b")]
    in_a = [r.id for r in made if r.pool == "a"]
    page = store.list_resources([R.STARTING], "a", Page(limit=2))
    assert [r.id for r in page] == in_a[:2]
    page = store.list_resources([R.STARTING], "a", Page(limit=2, after=page[-1].id))
    assert [r.id for r in page] == in_a[2:]
    assert store.list_resources(None, None, Page(limit=10, after=made[-1].id)) == []
