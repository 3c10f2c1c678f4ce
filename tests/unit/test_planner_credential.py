"""Credential pools in the planner: minted for one ticket, told its lease, extended with it."""

from __future__ import annotations

from tests.unit.planner_data import NOW, of, pool, res, run, ticket

from lessor.domain.states import ResourceState as R
from lessor.domain.states import TicketState as T
from lessor.planner.actions import Extend, Livecheck, Retire, Start

CREDENTIAL = {
    "credential": True,
    "secret_data": True,
    "start_for_waiting": True,
    "max_prealloc": 0,
    "cmd_extend": "./extend",
}


def test_a_credential_is_minted_for_the_waiting_ticket_and_reserved_to_it() -> None:
    plan_ = run([pool(**CREDENTIAL)], [], [ticket(1, ttl=60, expires_at=NOW + 60)])
    assert of(plan_, Start) == [Start("p", for_ticket=1)]


def test_a_credential_whose_ticket_no_longer_waits_is_revoked_at_once() -> None:
    leftover = res(1, R.UP, reserved_for=9)  # ticket 9 was closed while cmd_new ran
    plan_ = run([pool(**CREDENTIAL)], [leftover], [])
    assert of(plan_, Retire) == [Retire(1, "a credential minted for a ticket that no longer waits")]


def test_a_credential_is_extended_once_its_ticket_outlives_what_it_was_told() -> None:
    t = ticket(1, state=T.ASSIGNED, resource_id=1, ttl=600, expires_at=NOW + 600)
    told_less = res(1, R.TAKEN, ticket_id=1, valid_until=NOW + 60)
    assert of(run([pool(**CREDENTIAL)], [told_less], [t]), Extend) == [Extend(1)]

    told_so = res(1, R.TAKEN, ticket_id=1, valid_until=NOW + 600)
    assert of(run([pool(**CREDENTIAL)], [told_so], [t]), Extend) == []
    # told no end (its ticket had no TTL when minted): nothing to renew
    told_none = res(1, R.TAKEN, ticket_id=1)
    assert of(run([pool(**CREDENTIAL)], [told_none], [t]), Extend) == []
    # a pool without cmd_extend: the credential keeps the end it was told
    no_hook = pool(**{**CREDENTIAL, "cmd_extend": None})
    assert of(run([no_hook], [told_less], [t]), Extend) == []


def test_an_extend_comes_before_a_livecheck_and_never_while_a_hook_runs() -> None:
    checked = pool(**CREDENTIAL, cmd_livecheck="./check", livecheck_period=1)
    t = ticket(1, state=T.ASSIGNED, resource_id=1, ttl=600, expires_at=NOW + 600)
    r = res(1, R.TAKEN, ticket_id=1, valid_until=NOW + 60)
    plan_ = run([checked], [r], [t])
    assert (of(plan_, Extend), of(plan_, Livecheck)) == ([Extend(1)], [])
    assert of(run([checked], [r], [t], busy=frozenset({1})), Extend) == []
