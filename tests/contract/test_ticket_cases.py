"""Opening and closing tickets through the service, on SQLite and PostgreSQL.

Both do all of their work in one transaction: a new ticket gets the spare the
planner would give it, a closed ticket's resource is back for its sandbox (or
on its way to deletion) when the call returns, and nothing is ever half done.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from lessor.domain.events import EventFilter
from lessor.domain.kinds import EventKind as K
from lessor.domain.model import Claim, Pool, Snapshot, Tag
from lessor.domain.states import ResourceState as R
from lessor.domain.states import TicketState as T
from lessor.planner.actions import Assign
from lessor.planner.plan import plan
from lessor.server import Parts, build
from lessor.service.core import LessorService, TicketAndResource
from lessor.service.errors import Conflict, KeyNeeded, KeyRefused
from lessor.service.keys import ADMIN, RESALLOC, Proof

NOW = 1_700_000_000.0
PATTERN = "{pool_name}_{id:08d}"
REUSING = {"reuse_opportunity_time": 600.0, "reuse_max_time": 86400.0}
POOLS = (
    Pool("cheap", tags=(Tag("x"),), priority=10, **REUSING),  # type: ignore[arg-type]
    Pool("dear", tags=(Tag("x"), Tag("big")), **REUSING),  # type: ignore[arg-type]
    Pool("hooked", tags=(Tag("hooked"),), cmd_release="true", **REUSING),  # type: ignore[arg-type]
)


class UseCases:
    """The service's use cases, each run by the executor as the API runs it (one
    transaction if it writes); its other attributes as they are."""

    def __init__(self, parts: Parts) -> None:
        self._parts = parts

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._parts.service, name)
        if not callable(value):
            return value
        return lambda *args, **kwargs: self._parts.executor.call(value, *args, **kwargs)


@pytest.fixture
def parts(any_url: str) -> Iterator[Parts]:
    built = build(any_url, POOLS, clock=lambda: NOW)
    yield built
    built.close()


@pytest.fixture
def service(parts: Parts) -> LessorService:
    return UseCases(parts)  # type: ignore[return-value]


def spare(service: LessorService, pool: str, sandbox: str | None = None) -> int:
    """An UP resource of `pool`; with `sandbox`, one released there (reusable only by it)."""
    store = service.store
    tags = sorted(t.name for p in POOLS if p.name == pool for t in p.tags)
    r = store.create_resource(pool, tags, PATTERN, NOW)
    assert store.mark_up(r.id, f"{pool}-{r.id}".encode(), NOW)
    if sandbox is not None:
        t = store.open_ticket(tags, sandbox, 0, NOW)
        assert store.assign(t.id, r.id, NOW) and store.close_ticket(t.id, NOW)
        assert store.release(r.id, sandbox, NOW) and store.release_done(r.id, NOW)
    return r.id


def holder(opened: TicketAndResource) -> Proof:
    """What the ticket's holder proves: the key its open answered."""
    return Proof(key=opened.key)


def planners_choice(service: LessorService, tags: list[str], sandbox: str | None) -> int:
    """What the planner gives a new ticket seeing every live resource (the slow path)."""
    ticket = service.store.open_ticket(tags, sandbox, 0, NOW)
    assert service.store.close_ticket(ticket.id, NOW)  # only to have a real id to plan with
    snapshot = Snapshot(
        NOW,
        POOLS,
        tuple(service.store.live_resources()),
        (ticket.evolve(state=T.OPEN),),
    )
    return next(a.resource_id for a in plan(snapshot).actions if isinstance(a, Assign))


def test_a_new_ticket_gets_at_once_the_spare_the_planner_would_give_it(
    service: LessorService,
) -> None:
    ids = {
        "dear": spare(service, "dear"),
        "cheap": spare(service, "cheap"),
        "cheap, sandbox b": spare(service, "cheap", "b"),
        "cheap again": spare(service, "cheap"),
        "dear, sandbox a": spare(service, "dear", "a"),
        "cheap, sandbox a": spare(service, "cheap", "a"),
        "cheap, sandbox a, later": spare(service, "cheap", "a"),
    }
    held = spare(service, "cheap", "a")
    service.hold_resource(held, "being looked at")
    for tags, sandbox, expected in [
        (["x"], "a", "cheap, sandbox a"),  # reuse in its own sandbox first, lowest id
        (["x"], None, "cheap"),  # the cheapest pool, lowest id, no one's sandbox
        (["x", "big"], "a", "dear, sandbox a"),
        (["x"], "c", "cheap again"),
    ]:
        assert planners_choice(service, tags, sandbox) == ids[expected]
        held_ticket = service.open_ticket(tags, sandbox)
        assert held_ticket.ticket.state is T.ASSIGNED
        assert held_ticket.ticket.resource_id == ids[expected], expected
        assert held_ticket.resource is not None
        assert held_ticket.resource.data == f"{held_ticket.resource.pool}-{ids[expected]}".encode()
        assert service.get_ticket(held_ticket.ticket.id).resource_id == ids[expected]
        assert service.get_resource(ids[expected]).state is R.TAKEN


def test_the_new_ticket_waits_behind_older_ones_and_skips_busy_spares(
    service: LessorService,
) -> None:
    first, second = spare(service, "cheap"), spare(service, "cheap")
    livecheck = Claim("cmd_livecheck", "a server", NOW + 60)
    assert service.store.claim_hook(first, [R.UP], livecheck)  # a livecheck in flight
    got = service.open_ticket(["x"])
    assert got.ticket.resource_id == second
    waiting = service.open_ticket(["x"])
    assert waiting.ticket.state is T.OPEN and waiting.resource is None
    assert service.store.end_hook(first, "a server")
    behind = service.open_ticket(["x"])  # the older waiting ticket comes first
    assert behind.ticket.state is T.OPEN


def test_closing_hands_a_reusable_resource_back_to_its_sandbox_at_once(
    service: LessorService,
) -> None:
    rid = spare(service, "cheap")
    opened = service.open_ticket(["x"], "ci")
    closed = service.close_ticket(opened.ticket.id, holder(opened))
    assert closed.ticket.state is T.CLOSED
    assert closed.resource is not None and closed.resource.state is R.UP
    back = service.get_resource(rid)
    assert (back.state, back.sandbox, back.ticket_id, back.releases) == (R.UP, "ci", None, 1)
    kinds = [e.kind for e in service.list_events(EventFilter(resource_id=rid))][-3:]
    assert kinds == [K.TICKET_CLOSED, K.RESOURCE_RELEASING, K.RESOURCE_RELEASED]
    assert service.open_ticket(["x"], "ci").ticket.resource_id == rid
    assert service.open_ticket(["x"], "other").ticket.state is T.OPEN  # not someone else's


def test_closing_leaves_hooks_to_the_reconciler(service: LessorService) -> None:
    plain = spare(service, "cheap")
    opened = service.open_ticket(["x"])  # no sandbox: no reuse
    assert (
        service.close_ticket(opened.ticket.id, holder(opened)).resource.state is R.DELETE_REQUESTED
    )  # type: ignore[union-attr]
    assert service.get_resource(plain).state is R.DELETE_REQUESTED
    hooked = spare(service, "hooked")
    opened = service.open_ticket(["hooked"], "ci")
    service.close_ticket(opened.ticket.id, holder(opened))
    assert service.get_resource(hooked).state is R.RELEASING  # cmd_release runs first
    again = service.close_ticket(opened.ticket.id, holder(opened))  # twice changes nothing
    assert again.ticket.state is T.CLOSED and service.get_resource(hooked).state is R.RELEASING


def test_atomic_is_all_or_nothing(service: LessorService, parts: Parts) -> None:
    store, tx = service.store, parts.transactions
    heard: list[object] = []
    tx.on_events = heard.extend
    rid = spare(service, "cheap")
    heard.clear()
    with pytest.raises(RuntimeError), tx.atomic():
        t = store.open_ticket(["x"], None, 0, NOW)
        assert store.assign(t.id, rid, NOW)
        raise RuntimeError("a bug half way")
    assert store.list_tickets() == []
    assert store.get_resource(rid).state is R.UP  # type: ignore[union-attr]
    assert heard == []
    with tx.atomic():  # a guarded update that loses changes only its own part
        t = store.open_ticket(["x"], None, 0, NOW)
        assert not store.assign(t.id, rid + 100, NOW)
        assert store.assign(t.id, rid, NOW)
    assert store.get_ticket(t.id).resource_id == rid  # type: ignore[union-attr]
    assert [e.kind for e in heard] == [K.TICKET_OPENED, K.TICKET_ASSIGNED]  # type: ignore[attr-defined]


def test_only_the_tickets_holder_or_an_admin_closes_or_extends_it(service: LessorService) -> None:
    opened = service.open_ticket(["x"], ttl=60.0)
    other = service.open_ticket(["x"])
    for stranger, refused in ((Proof(), KeyNeeded), (Proof(key=other.key), KeyRefused)):
        with pytest.raises(refused):
            service.close_ticket(opened.ticket.id, stranger)
        with pytest.raises(refused):
            service.extend_ticket(opened.ticket.id, 0.001, stranger)
    assert service.get_ticket(opened.ticket.id).state is T.OPEN
    assert service.extend_ticket(opened.ticket.id, 30.0, holder(opened)).ttl == 30.0
    assert service.close_ticket(other.ticket.id, ADMIN).ticket.state is T.CLOSED
    resalloc = service.close_ticket(opened.ticket.id, RESALLOC)  # its clients carry no key
    assert resalloc.ticket.state is T.CLOSED


def test_a_secret_pools_data_reaches_only_its_tickets_holder_while_it_is_open(
    parts: Parts,
) -> None:
    secret = Pool("vault", tags=(Tag("token"),), secret_data=True)
    service = UseCases(parts)
    parts.service.pools = (*POOLS, secret)
    r = parts.store.create_resource("vault", ["token"], PATTERN, NOW)
    assert parts.store.mark_up(r.id, b"s3cret", NOW)
    opened = service.open_ticket(["token"])
    held = TicketAndResource(opened.ticket, opened.resource)
    data_for = parts.service.data_for
    assert data_for(held, holder(opened)) == b"s3cret"
    assert data_for(held, ADMIN) == b"s3cret"
    assert data_for(held, Proof()) is None and data_for(held, Proof(key="guess")) is None
    assert data_for(held, RESALLOC) is None  # unless server.yaml allows it
    closed = service.close_ticket(opened.ticket.id, holder(opened))
    assert data_for(closed, holder(opened)) is None  # a closed ticket drops secret data


def test_a_retried_open_answers_the_same_ticket_and_key(service: LessorService) -> None:
    first = service.open_ticket(["x"], "ci", idempotency_key="3b4f1c7e-retry")
    again = service.open_ticket(["x"], "ci", idempotency_key="3b4f1c7e-retry")
    assert (again.ticket.id, again.key) == (first.ticket.id, first.key)
    assert len(service.list_tickets()) == 1
    with pytest.raises(Conflict):
        service.open_ticket(["x"], "other", idempotency_key="3b4f1c7e-retry")
    assert service.open_ticket(["x"], "ci").key != first.key
