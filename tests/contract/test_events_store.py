"""The event log on SQLite and PostgreSQL: written with each transition, read with filters."""

from __future__ import annotations

import pytest

from lessor.domain.events import Event, EventFilter
from lessor.domain.kinds import EventKind as K
from lessor.domain.model import Resource
from lessor.domain.states import ResourceState as R
from lessor.service.events import history
from lessor.store.interface import Store, Transactions

NOW = 1_700_000_000.0
PATTERN = "{pool_name}_{id:08d}"


def kinds(store: Store, **f: object) -> list[str]:
    return [str(e.kind) for e in store.list_events(EventFilter(**f))]  # type: ignore[arg-type]


def up(store: Store, pool: str = "p", at: float = NOW) -> int:
    r = store.create_resource(pool, ["x"], PATTERN, at)
    assert store.mark_up(r.id, b"10.0.0.1\n", at)
    return r.id


def test_a_ticket_and_its_resource_tell_their_whole_story(store: Store) -> None:
    rid = up(store, "cloud")
    t = store.open_ticket(["x"], "s1", 0, NOW + 1)
    assert store.assign(t.id, rid, NOW + 3)
    assert store.close_ticket(t.id, NOW + 10)
    assert store.request_delete(rid, [R.TAKEN], "ticket closed", NOW + 11)  # no reuse: deleted
    assert store.start_delete(rid, NOW + 12)
    assert store.mark_ended(rid, NOW + 13)

    assert kinds(store, ticket_id=t.id) == [
        K.TICKET_OPENED,
        K.TICKET_ASSIGNED,
        K.TICKET_CLOSED,
        # and what became of the resource it had
        K.RESOURCE_DELETE_REQUESTED,
        K.RESOURCE_DELETING,
        K.RESOURCE_ENDED,
    ]
    assert kinds(store, resource_id=rid) == [
        K.RESOURCE_CREATED,
        K.RESOURCE_UP,
        K.TICKET_ASSIGNED,
        K.TICKET_CLOSED,  # why it is recycled
        K.RESOURCE_DELETE_REQUESTED,
        K.RESOURCE_DELETING,
        K.RESOURCE_ENDED,
    ]
    assigned = store.list_events(EventFilter(kinds=(K.TICKET_ASSIGNED,)))[0]
    assert (assigned.ticket_id, assigned.resource_id, assigned.pool) == (t.id, rid, "cloud")
    assert assigned.details["waited"] == pytest.approx(2.0)
    assert assigned.at == NOW + 3
    opened = store.list_events(EventFilter(kinds=(K.TICKET_OPENED,)))[0]
    assert opened.details == {"tags": ["x"], "sandbox": "s1", "priority": 0}
    why = store.list_events(EventFilter(kinds=(K.RESOURCE_DELETE_REQUESTED,)))[0]
    assert why.message == "ticket closed"


def test_a_transition_that_loses_its_race_records_nothing(store: Store) -> None:
    rid = up(store)
    t1 = store.open_ticket(["x"], None, 0, NOW)
    t2 = store.open_ticket(["x"], None, 0, NOW)
    assert store.assign(t1.id, rid, NOW)
    assert not store.assign(t2.id, rid, NOW)  # rolled back: no event, ticket still open
    assert not store.mark_up(rid, b"again", NOW)
    assert kinds(store, ticket_id=t2.id) == [K.TICKET_OPENED]
    assert kinds(store, resource_id=rid).count(K.RESOURCE_UP) == 1


def test_failures_say_why(store: Store) -> None:
    rid = up(store, "cloud")
    assert store.livecheck_failed(rid, 2, "cmd_livecheck exited with 1", NOW)
    assert store.livecheck_failed(rid, 2, "cmd_livecheck exited with 1", NOW)
    why = "2 livechecks failed in a row: cmd_livecheck exited with 1"  # the planner's words
    assert store.request_delete(rid, [R.UP], why, NOW)
    assert store.start_delete(rid, NOW)
    assert store.delete_failed(rid, "cmd_delete exited with 7", NOW + 30, NOW)
    t = store.open_ticket(["nope"], None, 0, NOW)
    assert store.fail_ticket(t.id, "no pool has tag nope", NOW)

    events = store.list_events(EventFilter(resource_id=rid))
    checks = [e for e in events if e.kind == K.RESOURCE_LIVECHECK_FAILED]
    assert [e.details["failures"] for e in checks] == [1, 2]
    assert all(e.pool == "cloud" and "exited with 1" in e.message for e in checks)
    doomed = next(e for e in events if e.kind == K.RESOURCE_DELETE_REQUESTED)
    assert "2 livechecks failed in a row" in doomed.message
    failed = events[-1]
    assert failed.kind == K.RESOURCE_DELETE_FAILED and failed.details["retry_at"] == NOW + 30
    assert store.list_events(EventFilter(ticket_id=t.id))[-1].message == "no pool has tag nope"


def test_filters_by_pool_time_kind_and_position(store: Store) -> None:
    a = up(store, "a", NOW)
    b = up(store, "b", NOW + 100)
    store.record_events([Event(K.HOOK_STARTED, NOW + 200, resource_id=b, pool="b")])

    assert {e.resource_id for e in store.list_events(EventFilter(pool="a"))} == {a}
    assert kinds(store, since=NOW + 100) == [K.RESOURCE_CREATED, K.RESOURCE_UP, K.HOOK_STARTED]
    assert kinds(store, kinds=(K.HOOK_STARTED,)) == [K.HOOK_STARTED]
    everything = store.list_events(EventFilter())
    assert [e.id for e in everything] == sorted(e.id for e in everything)  # oldest first
    assert store.list_events(EventFilter(limit=2)) == everything[-2:]  # the newest two
    after = everything[1].id
    assert store.list_events(EventFilter(after_id=after, limit=2)) == everything[2:4]


def test_listeners_hear_of_events_once_they_are_committed(store: Store, tx: Transactions) -> None:
    heard: list[list[Event]] = []

    def listener(batch: list[Event]) -> None:
        # Committed: another connection already reads them.
        assert store.list_events(EventFilter(after_id=batch[0].id - 1)) == batch
        heard.append(batch)

    tx.on_events = listener
    rid = up(store)
    rival = store.open_ticket(["x"], None, 0, NOW)
    t = store.open_ticket(["x"], None, 0, NOW)
    assert store.assign(t.id, rid, NOW)
    heard.clear()
    assert not store.assign(rival.id, rid, NOW)  # rolled back: nothing to hear
    store.save_data(rid, b"more")  # not an event either
    assert heard == []
    assert store.close_ticket(t.id, NOW)
    assert [[e.kind for e in batch] for batch in heard] == [[K.TICKET_CLOSED]]


def test_history_replays_counts_per_state_and_waiting_tickets(store: Store) -> None:
    # Before the window: one spare UP, one ticket waiting.
    up(store, "p", NOW - 500)
    early = store.open_ticket(["x"], None, 0, NOW - 400)
    # In the window: a resource starts and comes up; the early ticket gets it.
    fresh = store.create_resource("p", ["x"], PATTERN, NOW + 150)
    assert store.mark_up(fresh.id, b"x", NOW + 250)
    assert store.assign(early.id, fresh.id, NOW + 350)
    store.open_ticket(["x"], None, 0, NOW + 450)  # still waiting at the end

    h = history(store, NOW, NOW + 600, points=7)  # samples every 100 s
    assert h.resources[R.UP] == (1, 1, 1, 2, 1, 1, 1)
    assert h.resources[R.STARTING] == (0, 0, 1, 0, 0, 0, 0)
    assert h.resources[R.TAKEN] == (0, 0, 0, 0, 1, 1, 1)
    assert h.waiting == (1, 1, 1, 1, 0, 1, 1)


def test_resources_taken_over_from_resalloc_are_in_the_log_and_the_history(
    store: Store,
) -> None:
    old = [
        Resource(7, "copr", "copr_7", R.UP, ("x",), created_at=NOW - 900, state_since=NOW - 800),
        Resource(8, "copr", "copr_8", R.ENDED, ("x",), created_at=NOW - 900, state_since=NOW - 1),
    ]
    store.adopt([], old)
    (imported,) = store.list_events(EventFilter(resource_id=7))
    assert imported.kind == K.RESOURCE_IMPORTED and imported.at == NOW - 800
    assert imported.details["state"] == "UP" and "resalloc" in imported.message
    assert store.list_events(EventFilter(resource_id=8)) == []  # history stays history
    assert history(store, NOW - 600, NOW, points=2).resources[R.UP] == (1, 1)
