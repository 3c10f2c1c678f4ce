"""The store's policy transitions on SQLite and PostgreSQL: leases, holds, drains, pools kept."""

from __future__ import annotations

from lessor.domain.events import Event, EventFilter
from lessor.domain.model import Pool, Tag
from lessor.domain.states import ResourceState as R
from lessor.domain.states import TicketState as T
from lessor.store.interface import Store

NOW = 1_700_000_000.0
PATTERN = "{pool_name}_{id:08d}_{datetime}"


def up(store: Store, reserved_for: int | None = None) -> int:
    r = store.create_resource("p", ["x"], PATTERN, NOW, reserved_for=reserved_for)
    assert store.mark_up(r.id, b"10.0.0.1\n", NOW)
    return r.id


def test_a_lease_expires_only_once_due_and_a_renewal_first_wins(store: Store) -> None:
    t = store.open_ticket(["x"], None, 0, NOW, ttl=60)
    assert (t.ttl, t.expires_at) == (60, NOW + 60)
    assert not store.expire_ticket(t.id, "expired", NOW + 59)
    assert store.extend_ticket(t.id, 120, NOW + 59)
    assert not store.expire_ticket(t.id, "expired", NOW + 61)  # the renewal came first
    assert store.expire_ticket(t.id, "expired", NOW + 179)
    closed = store.get_ticket(t.id)
    assert closed is not None and closed.state is T.CLOSED and closed.message == "expired"
    assert not store.extend_ticket(t.id, 60, NOW + 180)
    assert not store.expire_ticket(t.id, "expired", NOW + 999)


def test_an_on_demand_reservation_ends_with_the_assignment(store: Store) -> None:
    t = store.open_ticket(["x"], None, 0, NOW)
    rid = up(store, reserved_for=t.id)
    assert store.get_resource(rid).reserved_for == t.id  # type: ignore[union-attr]
    assert store.assign(t.id, rid, NOW)
    assert store.get_resource(rid).reserved_for is None  # type: ignore[union-attr]


def test_failed_livechecks_are_counted_and_move_nothing(
    store: Store,
) -> None:
    held = up(store)
    assert store.hold_resource(held, "look at it", NOW)
    for _ in range(3):
        assert store.livecheck_failed(held, 2, "check exited 1", NOW)
    assert store.get_resource(held).state is R.UP  # type: ignore[union-attr]
    assert store.get_resource(held).hold_reason == "look at it"  # type: ignore[union-attr]
    assert store.unhold_resource(held, NOW)
    assert store.get_resource(held).hold_reason is None  # type: ignore[union-attr]

    t = store.open_ticket(["x"], None, 0, NOW)
    used = up(store)
    assert store.assign(t.id, used, NOW)
    for _ in range(3):
        assert store.livecheck_failed(used, 2, "check exited 1", NOW)
    assert store.get_resource(used).state is R.TAKEN  # type: ignore[union-attr]
    assert store.get_resource(used).livecheck_failures == 3  # type: ignore[union-attr]
    assert store.livecheck_passed(used, NOW)
    assert store.get_resource(used).livecheck_failures == 0  # type: ignore[union-attr]


def test_a_resource_being_deleted_cannot_be_held(store: Store) -> None:
    rid = up(store)
    assert store.request_delete(rid, [R.UP], "gone", NOW)
    assert store.start_delete(rid, NOW)
    assert not store.hold_resource(rid, "too late", NOW)


def test_pools_are_kept_as_loaded_and_a_drain_survives_a_reload(store: Store) -> None:
    pool = Pool(
        "aws",
        max=9,
        tags=(Tag("x", 3),),
        tags_on_demand=(Tag("big"),),
        named_counters=("slot",),
        cmd_new="new",
        cmd_delete="delete",
        priority=5,
    )
    store.save_pool_definitions([pool], NOW)
    assert store.stored_pools() == [pool]
    assert store.set_drained("aws", True, "maintenance", NOW)
    assert not store.set_drained("aws", True, "maintenance", NOW)
    store.save_pool_definitions([pool.evolve(max=3)], NOW + 1)
    (kept,) = store.stored_pools()
    assert kept == pool.evolve(max=3, drained=True, drain_reason="maintenance")
    assert store.set_drained("aws", False, "", NOW)
    assert store.stored_pools() == [pool.evolve(max=3)]


def test_a_pools_starts_and_failures_are_kept_and_survive_its_definitions(store: Store) -> None:
    pool = Pool("aws", tags=(Tag("x"),))
    store.save_pool_definitions([pool], NOW)
    store.create_resource("aws", ["x"], "{id}", NOW + 5)
    said = "cmd_new exited with 1: quota exceeded"
    store.start_failed("aws", said, NOW + 6)
    store.start_failed("aws", said, NOW + 7)
    store.save_pool_definitions([pool.evolve(max=9)], NOW + 8)  # a reload keeps the state
    (saved,) = store.stored_pools()
    assert (saved.max, saved.last_start, saved.start_failures) == (9, NOW + 5, 2)
    assert (saved.failed_at, saved.last_failure) == (
        NOW + 7,
        "cmd_new exited with 1: quota exceeded",
    )
    store.start_succeeded("aws")
    assert store.stored_pools()[0].start_failures == 0


def test_a_resource_remembers_its_first_assignment_and_its_last_release(store: Store) -> None:
    rid = up(store)
    for at in (NOW + 10, NOW + 20):
        t = store.open_ticket(["x"], "s", 0, at)
        assert store.assign(t.id, rid, at) and store.close_ticket(t.id, at)
        assert store.release(rid, "s", at) and store.release_done(rid, at)
    r = store.get_resource(rid)
    assert r is not None and (r.sandboxed_since, r.released_at) == (NOW + 10, NOW + 20)


def test_a_credentials_end_is_kept_and_a_lease_is_cut_back_only_if_not_renewed_since(
    store: Store,
) -> None:
    t = store.open_ticket(["x"], None, 0, NOW, ttl=60)
    rid = up(store, reserved_for=t.id)
    store.set_valid_until(rid, NOW + 60)
    assert store.assign(t.id, rid, NOW)
    assert store.get_resource(rid).valid_until == NOW + 60  # type: ignore[union-attr]
    assert store.extend_ticket(t.id, 600, NOW + 10)
    event = Event("credential.extend_failed", NOW + 11, ticket_id=t.id, resource_id=rid)
    assert not store.cut_lease(t.id, NOW + 999, NOW + 60, event)  # renewed to another end
    assert store.cut_lease(t.id, NOW + 610, NOW + 60, event)
    assert store.get_ticket(t.id).expires_at == NOW + 60  # type: ignore[union-attr]
    kinds = [e.kind for e in store.list_events(EventFilter(ticket_id=t.id))]
    assert kinds.count("credential.extend_failed") == 1
    assert store.close_ticket(t.id, NOW + 20) is not None
    assert not store.cut_lease(t.id, NOW + 60, NOW + 30, event)  # over: nothing to cut
