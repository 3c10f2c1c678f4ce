"""The SQL store on SQLite and on a real PostgreSQL: guarded transitions hold under races."""

from __future__ import annotations

import threading

from lessor.domain.events import EventFilter
from lessor.domain.kinds import EventKind as K
from lessor.domain.model import Claim
from lessor.domain.states import ResourceState as R
from lessor.domain.states import TicketState as T
from lessor.store.interface import Store, Transactions

NOW = 1_700_000_000.0
PATTERN = "{pool_name}_{id:08d}_{datetime}"


def up(store: Store, pool: str = "p") -> int:
    r = store.create_resource(pool, ["x"], PATTERN, NOW)
    assert store.mark_up(r.id, b"10.0.0.1\n", NOW)
    return r.id


def test_ids_count_from_one_and_names_follow_resallocs_pattern(store: Store) -> None:
    a = store.create_resource("pool", ["x"], PATTERN, NOW)
    b = store.create_resource("pool", ["x"], PATTERN, NOW)
    assert (a.id, a.id_in_pool, b.id_in_pool) == (1, 0, 1)
    assert a.name.startswith("pool_00000001_2023")
    assert store.open_ticket(["x"], None, 0, NOW).id == 1


def test_id_in_pool_reuses_the_smallest_free_number(store: Store) -> None:
    rids = [store.create_resource("p", ["x"], PATTERN, NOW).id for _ in range(3)]
    assert store.request_delete(rids[0], [R.STARTING], "test", NOW)
    assert store.start_delete(rids[0], NOW) and store.mark_ended(rids[0], NOW)
    assert store.create_resource("p", ["x"], PATTERN, NOW).id_in_pool == 0


def test_a_resource_goes_to_one_ticket_only(store: Store) -> None:
    rid = up(store)
    t1 = store.open_ticket(["x"], None, 0, NOW)
    t2 = store.open_ticket(["x"], None, 0, NOW)
    assert store.assign(t1.id, rid, NOW)
    assert not store.assign(t2.id, rid, NOW)
    assert store.get_ticket(t2.id).state is T.OPEN  # type: ignore[union-attr]
    assigned = store.get_ticket(t1.id)
    assert assigned is not None and assigned.resource_id == rid


def test_concurrent_assignments_never_double_book(store: Store) -> None:
    """Many threads race to give the same few resources to many tickets."""
    resources = [up(store) for _ in range(4)]
    tickets = [store.open_ticket(["x"], None, 0, NOW).id for _ in range(16)]
    won: list[tuple[int, int]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def worker(offset: int) -> None:
        barrier.wait()
        for i in range(16):
            tid = tickets[(i + offset) % 16]
            rid = resources[(i + offset) % 4]
            if store.assign(tid, rid, NOW):
                with lock:
                    won.append((tid, rid))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(r for _, r in won) == sorted(resources)  # each resource exactly once
    assert len({t for t, _ in won}) == len(won)  # and no ticket got two
    for tid, rid in won:
        r = store.get_resource(rid)
        assert r is not None and r.state is R.TAKEN and r.ticket_id == tid


def test_a_new_ticket_is_answered_as_it_was_stored(store: Store) -> None:
    """open_ticket does not read its row back; what it returns must be that row all the same."""
    for ttl in (None, 30.0):
        t = store.open_ticket(["x", "y"], "sb", 3, NOW, ttl=ttl)
        assert store.get_ticket(t.id) == t


def test_a_ticket_being_opened_gets_only_a_resource_nobody_took(
    store: Store, tx: Transactions
) -> None:
    """The fast path's assignment, inside the transaction that opens the ticket: a spare
    someone took meanwhile leaves the new ticket waiting and the other holder untouched."""
    gone, free = up(store), up(store)
    other = store.open_ticket(["x"], None, 0, NOW)
    assert store.assign(other.id, gone, NOW)
    with tx.atomic():
        t = store.open_ticket(["x"], None, 0, NOW)
        spare = store.get_resource(gone)
        assert spare is not None and not store.assign_opened(t, spare, NOW)
        spare = store.get_resource(free)
        assert spare is not None
        assigned = store.assign_opened(t, spare, NOW)
        assert assigned is not None
    assert assigned == (store.get_ticket(t.id), store.get_resource(free))  # as they were stored
    got = store.get_ticket(t.id)
    assert got is not None and got.state is T.ASSIGNED and got.resource_id == free
    held = store.get_resource(gone)
    assert held is not None and held.ticket_id == other.id
    taken = store.get_resource(free)
    assert taken is not None and taken.state is R.TAKEN and taken.ticket_id == t.id
    (assigned,) = store.list_events(EventFilter(ticket_id=t.id, kinds=(K.TICKET_ASSIGNED,)))
    assert assigned.resource_id == free and assigned.pool == "p"


def test_a_new_ticket_is_offered_its_own_sandbox_first_then_the_lowest_ids(
    store: Store,
) -> None:
    unused = [up(store) for _ in range(3)]
    other, held, own = up(store), up(store), up(store)
    for rid, sandbox in ((other, "theirs"), (own, "mine")):
        ticket = store.open_ticket(["x"], sandbox, 0, NOW)
        assert store.assign(ticket.id, rid, NOW)
        store.close_ticket(ticket.id, NOW)
        assert store.reuse_at_once(store.get_resource(rid), sandbox, NOW)  # type: ignore[arg-type]
    assert store.hold_resource(held, "looked at", NOW)
    up(store, pool="elsewhere")

    def offered(sandbox: str | None, n: int) -> list[int]:
        return [r.id for r in store.spares(["p"], sandbox, n)]

    assert offered("mine", 3) == [own, *unused[:2]]
    assert offered("mine", 1) == [own]
    assert offered(None, 9) == unused  # neither another sandbox's nor a held one
    assert offered("new", 2) == unused[:2]


def test_closing_a_ticket_is_guarded_and_keeps_its_data(store: Store) -> None:
    rid = up(store)
    t = store.open_ticket(["x"], None, 0, NOW)
    assert store.assign(t.id, rid, NOW)
    assert store.close_ticket(t.id, NOW)
    assert not store.close_ticket(t.id, NOW)
    closed = store.get_ticket(t.id)
    assert closed is not None and closed.state is T.CLOSED and closed.resource_id == rid


def test_recovery_after_a_crash_deletes_half_made_resources_and_keeps_assignments(
    store: Store,
) -> None:
    mine = Claim("cmd_new", "me", NOW + 60)
    starting = store.create_resource("p", ["x"], PATTERN, NOW, claim=mine).id
    theirs = Claim("cmd_new", "another server", NOW + 60)
    elsewhere = store.create_resource("p", ["x"], PATTERN, NOW, claim=theirs).id
    taken = up(store)
    t = store.open_ticket(["x"], None, 0, NOW)
    assert store.assign(t.id, taken, NOW)
    deleting = up(store)
    assert store.request_delete(deleting, [R.UP], "test", NOW)
    assert store.start_delete(deleting, NOW, Claim("cmd_delete", "me", NOW + 60))

    assert sorted(store.recover_claims(NOW + 1, "me")) == sorted([starting, deleting])
    assert store.get_resource(elsewhere).state is R.STARTING  # type: ignore[union-attr]
    assert store.get_resource(starting).state is R.DELETE_REQUESTED  # type: ignore[union-attr]
    assert store.get_resource(deleting).state is R.DELETE_REQUESTED  # type: ignore[union-attr]
    kept = store.get_resource(taken)
    assert kept is not None and kept.state is R.TAKEN and kept.ticket_id == t.id


def test_one_claim_is_recovered_on_demand_while_its_owner_lives(store: Store) -> None:
    mine = Claim("cmd_new", "me", NOW + 60)
    stuck = store.create_resource("p", ["x"], PATTERN, NOW, claim=mine).id
    other = store.create_resource("p", ["x"], PATTERN, NOW, claim=mine).id
    assert store.recover_claims(NOW + 1, resource_id=stuck) == [stuck]
    assert store.get_resource(stuck).state is R.DELETE_REQUESTED  # type: ignore[union-attr]
    assert store.get_resource(other).state is R.STARTING  # type: ignore[union-attr]
    assert store.renew_claims("me", NOW + 120) == 1  # the other claim only


def test_a_failed_delete_stays_visible_until_it_succeeds(store: Store) -> None:
    rid = up(store)
    assert store.request_delete(rid, [R.UP], "test", NOW)
    assert store.start_delete(rid, NOW)
    assert store.delete_failed(rid, "cmd_delete exited with 1", NOW + 10, NOW)
    r = store.get_resource(rid)
    assert r is not None and r.state is R.DELETE_REQUESTED
    assert r.delete_attempts == 1 and r.next_attempt_at == NOW + 10
    assert "exited with 1" in r.message
    assert rid in {x.id for x in store.live_resources()}


def test_livecheck_failures_are_counted_in_a_row(store: Store) -> None:
    rid = up(store)

    def failures() -> int:
        r = store.get_resource(rid)
        assert r is not None and r.state is R.UP
        return r.livecheck_failures

    assert store.livecheck_failed(rid, 3, "down", NOW) and failures() == 1
    assert store.livecheck_passed(rid, NOW) and failures() == 0  # a pass resets the count
    assert store.livecheck_failed(rid, 3, "down", NOW)
    assert store.livecheck_failed(rid, 3, "down", NOW) and failures() == 2


def test_data_is_binary_safe(store: Store) -> None:
    r = store.create_resource("p", ["x"], PATTERN, NOW)
    blob = bytes(range(256))
    assert store.mark_up(r.id, blob, NOW)
    assert store.get_resource(r.id).data == blob  # type: ignore[union-attr]


def test_a_new_leadership_epoch_fences_the_plans_of_the_old_one(store: Store) -> None:
    old = store.take_lead()
    assert store.fenced(old)
    new = store.take_lead()
    assert new > old
    assert not store.fenced(old)  # a paused ex-leader that wakes applies nothing
    assert store.fenced(new)
