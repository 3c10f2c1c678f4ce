"""Lease TTL: a ticket not extended in time is closed, and its resource recycled."""

from __future__ import annotations

from tests.unit.planner_data import NOW, of, pool, res, run, ticket

from lessor.domain.states import ResourceState as R
from lessor.domain.states import TicketState as T
from lessor.planner.actions import Assign, ExpireTicket, Recycle


def test_an_assigned_ticket_past_its_expiry_is_expired_naming_its_ttl() -> None:
    t = ticket(1, state=T.ASSIGNED, resource_id=1, ttl=60, expires_at=NOW)
    plan_ = run([pool()], [res(1, R.TAKEN, ticket_id=1)], [t])
    assert of(plan_, ExpireTicket) == [
        ExpireTicket(1, "expired: not extended within its TTL of 60s")
    ]


def test_an_expiring_open_ticket_gets_no_resource_and_the_next_one_does() -> None:
    tickets = [ticket(1, ttl=5, expires_at=NOW - 1), ticket(2)]
    plan_ = run([pool()], [res(7)], tickets)
    assert [a.ticket_id for a in of(plan_, ExpireTicket)] == [1]
    assert of(plan_, Assign) == [Assign(2, 7)]


def test_a_ticket_within_its_ttl_stays_and_the_loop_wakes_at_its_expiry() -> None:
    t = ticket(1, state=T.ASSIGNED, resource_id=1, ttl=60, expires_at=NOW + 42)
    plan_ = run([pool(max_prealloc=0)], [res(1, R.TAKEN, ticket_id=1)], [t])
    assert of(plan_, ExpireTicket) == []
    assert plan_.wake_at == NOW + 42


def test_the_resource_of_an_expired_ticket_is_recycled_like_a_closed_ones() -> None:
    t = ticket(1, state=T.CLOSED, resource_id=1, ttl=60, expires_at=NOW - 1)
    plan_ = run([pool()], [res(1, R.TAKEN, ticket_id=1)], [t])
    assert of(plan_, Recycle) == [Recycle(1, reuse=False)]
    assert of(plan_, ExpireTicket) == []


def test_tickets_without_a_ttl_never_expire() -> None:
    t = ticket(1, state=T.ASSIGNED, resource_id=1)
    plan_ = run([pool(max_prealloc=0)], [res(1, R.TAKEN, ticket_id=1)], [t], now=NOW + 1e9)
    assert of(plan_, ExpireTicket) == []
