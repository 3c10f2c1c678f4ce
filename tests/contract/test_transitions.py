"""Every state change a store makes is a move of the one transition table (domain/states.py).

A walk calls every state-changing method of the Store on every store (memory,
SQLite, PostgreSQL). Around each call the rows' states are compared: each row
that moved must have recorded, in that call, events whose kinds are moves of
the table, each from the state the row was in, ending in the state it is in
now; and no row moves without. At the end every move of the table has been
made at least once, so a move the table lacks (or one no store makes) fails.
"""

from __future__ import annotations

from typing import Any

from lessor.domain.events import EventFilter
from lessor.domain.model import Claim, Resource, Ticket
from lessor.domain.states import (
    RESOURCE_MOVES_BY_KIND,
    TICKET_MOVES_BY_KIND,
    ResourceMove,
    ResourceState,
    TicketMove,
    TicketState,
    Transition,
)
from lessor.store.interface import Store

R = ResourceState
T = TicketState
NOW = 1_700_000_000.0
PATTERN = "{pool_name}_{id}"


class Walk:
    """Calls store methods, checking each against the table; remembers the moves made."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.made: set[str] = set()
        self.called: set[str] = set()

    def states(self) -> tuple[dict[int, TicketState], dict[int, ResourceState]]:
        tickets = {t.id: t.state for t in self.store.list_tickets()}
        resources = {r.id: r.state for r in self.store.list_resources()}
        return tickets, resources

    def __call__(self, method: str, *args: Any, **kwargs: Any) -> Any:
        before_t, before_r = self.states()
        last = self.store.list_events(EventFilter(limit=1))
        after_id = last[-1].id if last else 0
        result = getattr(self.store, method)(*args, **kwargs)
        self.called.add(method)
        after_t, after_r = self.states()
        events = self.store.list_events(EventFilter(after_id=after_id, limit=10_000))
        for tid, state in after_t.items():
            kinds = [e.kind for e in events if e.ticket_id == tid]
            self._check(
                method, "ticket", tid, before_t.get(tid), state, kinds, TICKET_MOVES_BY_KIND
            )
        for rid, state in after_r.items():
            kinds = [e.kind for e in events if e.resource_id == rid]
            self._check(
                method, "resource", rid, before_r.get(rid), state, kinds, RESOURCE_MOVES_BY_KIND
            )
        return result

    def _check(
        self,
        method: str,
        what: str,
        row: int,
        was: Any,
        now: Any,
        kinds: list[str],
        moves: Any,
    ) -> None:
        state = was
        for kind in kinds:
            candidates: tuple[Transition[Any], ...] = moves.get(kind, ())
            if not candidates:
                continue  # an event that moves nothing of this kind of row (hook runs, holds)
            allowed = [
                m for m in candidates if (state is None and not m.sources) or m.allows(state)
            ]
            assert allowed, f"{method}: {what} {row}: {kind} from {state}"
            # Moves that share a kind share a target (the table checks that).
            self.made |= {f"{what}.{m.name}" for m in allowed}
            state = allowed[0].target
        assert state == now, f"{method}: {what} {row} went {was} -> {now} with events {kinds}"


def test_every_store_transition_is_a_move_of_the_table(store: Store) -> None:
    walk = Walk(store)

    def up(pool: str = "p") -> Resource:
        r: Resource = walk("create_resource", pool, ["x"], PATTERN, NOW)
        assert walk("mark_up", r.id, b"data", NOW)
        return r

    def ticket(sandbox: str | None = None) -> Ticket:
        t: Ticket = walk("open_ticket", ["x"], sandbox, 0, NOW, ttl=10.0)
        return t

    # A resource's whole life, reused once without cmd_release and once with it.
    r = up()
    t = ticket("s")
    assert walk("assign", t.id, r.id, NOW)
    assert walk("close_ticket", t.id, NOW)
    taken = store.get_resource(r.id)
    assert taken is not None and walk("reuse_at_once", taken, "s", NOW)
    t = ticket("s")
    assert walk("assign", t.id, r.id, NOW)
    assert walk("close_ticket", t.id, NOW)
    assert walk("release", r.id, "s", NOW)
    assert walk("release_done", r.id, NOW)
    assert walk("livecheck_failed", r.id, 3, "down", NOW)
    assert walk("livecheck_passed", r.id, NOW)
    assert walk("hold_resource", r.id, "look", NOW)
    assert walk("unhold_resource", r.id, NOW)
    assert walk("request_delete", r.id, [R.UP], "old", NOW)
    claim = Claim("cmd_delete", "me", NOW + 60)
    assert walk("start_delete", r.id, NOW, claim)
    assert walk("delete_failed", r.id, "exit 1", NOW + 10, NOW)
    assert walk("start_delete", r.id, NOW)
    assert walk("end_hook", r.id, "me")
    assert walk("mark_ended", r.id, NOW)

    # A ticket opened and assigned in one go (the fast path), then failed with its resource.
    r = up()
    t = ticket()
    spare = store.get_resource(r.id)
    assert spare is not None and walk("assign_opened", t, spare, NOW)
    assert walk("fail_ticket", t.id, "its resource died", NOW)
    assert walk("request_delete", r.id, [R.TAKEN], "dead", NOW)

    # Leases: renewed, then expired; an expired open ticket; a failed one closed.
    t = ticket()
    assert walk("extend_ticket", t.id, 5.0, NOW)
    assert walk("expire_ticket", t.id, "expired", NOW + 6)
    t = ticket()
    r = up()
    assert walk("assign", t.id, r.id, NOW)
    assert walk("fail_ticket", t.id, "dead", NOW)
    assert walk("close_ticket", t.id, NOW)
    t = ticket()
    assert walk("fail_ticket", t.id, "never", NOW)

    # Hooks claimed, and a crash: what a hook made, cleaned or deleted goes to cmd_delete.
    starting = walk("create_resource", "p", ["x"], PATTERN, NOW, claim=Claim("cmd_new", "x", NOW))
    failed = walk("create_resource", "p", ["x"], PATTERN, NOW)
    assert walk("request_delete", failed.id, [R.STARTING], "cmd_new exited with 1", NOW)
    releasing = up()
    t = ticket("s")
    assert walk("assign", t.id, releasing.id, NOW)
    assert walk("close_ticket", t.id, NOW)
    assert walk("release", releasing.id, "s", NOW)
    assert walk("claim_hook", releasing.id, [R.RELEASING], Claim("cmd_release", "x", NOW + 60))
    checked = up()
    assert walk("claim_hook", checked.id, [R.UP], Claim("cmd_livecheck", "x", NOW + 60))
    alive = walk("create_resource", "p", ["x"], PATTERN, NOW, claim=Claim("cmd_new", "y", NOW))
    assert walk("renew_claims", "y", NOW + 60) == 1  # another server, alive: renews its lease
    recovered = walk("recover_claims", NOW + 1, "x")  # "x" restarted: its claims are dead
    assert set(recovered) == {starting.id, releasing.id}
    busy = store.get_resource(checked.id)
    assert busy is not None and not busy.busy  # its claim is void
    kept = store.get_resource(alive.id)
    assert kept is not None and kept.state is R.STARTING and kept.hook_owner == "y"
    assert walk("recover_claims", NOW + 61) == [alive.id]  # "y" died: its lease ran out

    # Pools' state, events, adoption: no state of a row moves.
    walk("save_data", checked.id, b"more")
    walk("start_failed", "p", "exit 1", NOW)
    walk("start_succeeded", "p")
    walk("set_drained", "p", True, "maintenance", NOW)
    walk("set_spares_target", "p", 3, "p95 wait 0 s forecast with 3 spares", NOW)
    walk("record_events", [])

    every_move = {f"resource.{m.name}" for m in ResourceMove.ALL}
    every_move |= {f"ticket.{m.name}" for m in TicketMove.ALL}
    assert walk.made == every_move, f"never made: {sorted(every_move - walk.made)}"


def test_the_walk_calls_every_state_changing_method_of_the_store() -> None:
    """A new transition method is added to the walk above, or this fails."""
    walked = {
        "create_resource", "mark_up", "assign", "close_ticket", "reuse_at_once", "release",
        "release_done", "livecheck_failed", "livecheck_passed", "hold_resource",
        "unhold_resource", "request_delete", "start_delete", "delete_failed", "end_hook",
        "mark_ended", "assign_opened", "fail_ticket", "extend_ticket", "expire_ticket",
        "claim_hook", "recover_claims", "renew_claims", "save_data", "start_failed",
        "start_succeeded", "set_drained", "record_events", "open_ticket", "set_spares_target",
    }  # fmt: skip
    reads = {
        "get_ticket", "list_tickets", "open_tickets_before", "tickets_for_snapshot",
        "get_resource", "resource_by_name", "list_resources", "live_resources", "spares",
        "pool_counts", "stored_pools", "list_events", "resource_states_at",
        "waiting_tickets_at", "is_empty", "ping", "database_id", "secret", "job_parts",
        "get_user", "user_by_token", "list_users", "leadership", "fenced", "listen",
    }  # fmt: skip
    # tested in test_policy/resalloc_store, test_job_cases
    writes_elsewhere = {"save_pool_definitions", "adopt", "open_job", "grant_job"}
    writes_elsewhere |= {"add_user", "revoke_user", "rotate_token", "set_owner"}  # test_user_cases
    writes_elsewhere |= {"take_lead"}  # tested in test_store
    writes_elsewhere |= {"set_valid_until", "cut_lease"}  # test_policy_store (no state moves)
    methods = {name for name in dir(Store) if not name.startswith("_")}
    assert methods == walked | reads | writes_elsewhere
