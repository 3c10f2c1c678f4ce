"""What the store does for resalloc's features, on SQLite and on PostgreSQL."""

from __future__ import annotations

from lessor.domain.model import Resource, Ticket
from lessor.domain.states import ResourceState as R
from lessor.domain.states import TicketState as T
from lessor.store.interface import Store

NOW = 1_700_000_000.0
RESALLOC_PATTERN = "{pool_name}_{id}_{datetime}"


def end(store: Store, rid: int) -> None:
    assert store.request_delete(rid, [R.STARTING], "test", NOW)
    assert store.start_delete(rid, NOW) and store.mark_ended(rid, NOW)


def test_named_counters_take_the_smallest_free_value_of_each_counter(store: Store) -> None:
    made = [store.create_resource("hv", ["x"], RESALLOC_PATTERN, NOW, ("tap", "ip")) for _ in "abc"]
    assert [dict(r.counters) for r in made] == [
        {"tap": 0, "ip": 0},
        {"tap": 1, "ip": 1},
        {"tap": 2, "ip": 2},
    ]
    end(store, made[1].id)
    again = store.create_resource("hv", ["x"], RESALLOC_PATTERN, NOW, ("tap", "ip"))
    assert dict(again.counters) == {"tap": 1, "ip": 1}
    assert store.get_resource(again.id) == again  # stored, not just returned


def test_a_counter_named_by_two_pools_is_one_counter_as_in_resallocs_schema(
    store: Store,
) -> None:
    a = store.create_resource("x86", ["x"], RESALLOC_PATTERN, NOW, ("tap",))
    b = store.create_resource("arm", ["x"], RESALLOC_PATTERN, NOW, ("tap",))
    plain = store.create_resource("arm", ["x"], RESALLOC_PATTERN, NOW)
    assert (dict(a.counters), dict(b.counters), plain.counters) == ({"tap": 0}, {"tap": 1}, ())


def test_resallocs_default_name_pattern_pads_the_id_to_eight_digits(store: Store) -> None:
    r = store.create_resource("copr_hv", ["x"], RESALLOC_PATTERN, NOW)
    assert r.name.startswith("copr_hv_00000001_2023111")
    assert len(r.name) == len("copr_hv_00000001_YYYYMMDD_HHMMSS")
    custom = store.create_resource("p", ["x"], "vm-{id:d}-{id_in_pool}-{tap}", NOW, ("tap",))
    assert custom.name == "vm-2-0-0"


def test_adopted_rows_keep_their_ids_and_new_ones_count_on_after_them(store: Store) -> None:
    assert store.is_empty()
    ticket = Ticket(id=41, tags=("vm",), state=T.ASSIGNED, sandbox="sb", resource_id=7)
    held = Resource(
        id=7,
        pool="p",
        name="p_00000007_20200101_000000",
        state=R.TAKEN,
        tags=("vm",),
        data=b"10.0.0.7\n",
        ticket_id=41,
        sandbox="sb",
        id_in_pool=3,
        counters=(("tap", 5),),
    )
    store.adopt([ticket], [held])
    assert not store.is_empty()
    assert store.get_ticket(41) == ticket
    assert store.get_resource(7) == held
    assert store.open_ticket(["vm"], None, 0, NOW).id == 42
    fresh = store.create_resource("p", ["vm"], RESALLOC_PATTERN, NOW, ("tap",))
    assert fresh.id == 8
    assert fresh.id_in_pool == 0 and dict(fresh.counters) == {"tap": 0}
    # the adopted numbers are held: the next one skips them
    nxt = [store.create_resource("p", ["vm"], RESALLOC_PATTERN, NOW, ("tap",)) for _ in range(5)]
    assert [r.id_in_pool for r in nxt] == [1, 2, 4, 5, 6]
    assert [dict(r.counters)["tap"] for r in nxt] == [1, 2, 3, 4, 6]
