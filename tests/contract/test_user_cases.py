"""Users on memory, SQLite and PostgreSQL: tokens stored hashed only, owners act on what
they opened, nobody else does, quotas make a ticket wait, saying why."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lessor.domain.jobs import JobState
from lessor.domain.model import Pool, Tag
from lessor.domain.states import TicketState as T
from lessor.domain.users import User, token_hash
from lessor.planner.plan import plan
from lessor.server import Parts, build
from lessor.service.errors import Conflict, KeyNeeded, PrivilegeNeeded
from lessor.service.keys import Proof
from lessor.store.interface import Store

NOW = 1_700_000_000.0
PATTERN = "{pool_name}_{id:08d}"
POOLS = (Pool("p", tags=(Tag("x"),), max=4, max_prealloc=0),)


def test_users_are_stored_with_their_token_hash(store: Store) -> None:
    assert store.add_user(User("alice", token_hash("t1"), quotas={"*": 2}, created_at=NOW))
    assert not store.add_user(User("alice", token_hash("t2"), created_at=NOW))
    assert store.user_by_token(token_hash("t1")) == store.get_user("alice")
    assert store.get_user("alice").quotas == {"*": 2}  # type: ignore[union-attr]
    assert store.rotate_token("alice", token_hash("t3"))
    assert store.user_by_token(token_hash("t1")) is None
    assert store.revoke_user("alice", NOW) and not store.revoke_user("alice", NOW)
    assert not store.get_user("alice").active  # type: ignore[union-attr]
    assert [u.name for u in store.list_users()] == ["alice"]
    t = store.open_ticket(["x"], None, 0, NOW)
    store.set_owner([t.id], "alice")
    assert store.get_ticket(t.id).owner == "alice"  # type: ignore[union-attr]


@pytest.fixture
def built(any_url: str) -> Iterator[Parts]:
    parts = build(any_url, POOLS, clock=lambda: NOW)
    yield parts
    parts.close()


def up(store: Store) -> int:
    r = store.create_resource("p", ["x"], PATTERN, NOW)
    assert store.mark_up(r.id, b"data", NOW)
    return r.id


def reconcile(p: Parts) -> dict[int, str]:
    with p.transactions.atomic():
        snapshot = p.service.snapshot()
        decided = plan(snapshot)
        p.service.applier.apply(snapshot, decided)
    return dict(decided.reasons)


def test_the_owner_closes_and_extends_without_the_key_and_nobody_else_does(built: Parts) -> None:
    s, ex = built.service, built.executor
    alice = ex.call(s.add_user, "alice").user
    bob = ex.call(s.add_user, "bob").user
    up(s.store)
    opened = ex.call(s.open_ticket, ["x"], ttl=60.0, owner=alice.name)
    job = ex.call(s.open_job, {"a": ["x"]}, owner=alice.name)
    as_bob, as_alice = Proof(user=bob.name), Proof(user=alice.name)
    with pytest.raises(KeyNeeded):
        ex.call(s.extend_ticket, opened.ticket.id, 10.0, as_bob)
    with pytest.raises(KeyNeeded):
        ex.call(s.close_ticket, opened.ticket.id, as_bob)
    with pytest.raises(KeyNeeded):
        ex.call(s.close_job, job.job.id, as_bob)
    assert ex.call(s.extend_ticket, opened.ticket.id, 120.0, as_alice).ttl == 120.0
    assert ex.call(s.close_ticket, opened.ticket.id, as_alice).ticket.state is T.CLOSED
    assert ex.call(s.close_job, job.job.id, as_alice).state is JobState.CLOSED
    with pytest.raises(Conflict):
        ex.call(s.add_user, "alice")


def test_a_ticket_over_its_owners_quota_waits_saying_why(built: Parts) -> None:
    s, ex = built.service, built.executor
    ex.call(s.add_user, "carol", quotas={"p": 1})
    for _ in range(3):
        up(s.store)
    first = ex.call(s.open_ticket, ["x"], owner="carol")
    second = ex.call(s.open_ticket, ["x"], owner="carol")
    other = ex.call(s.open_ticket, ["x"])
    reasons = reconcile(built)
    states = [s.get_ticket(t.ticket.id).state for t in (first, second, other)]
    assert states == [T.ASSIGNED, T.OPEN, T.ASSIGNED]
    assert reasons[second.ticket.id] == "quota: 1/1 resources held in pool p"
    ex.call(s.close_ticket, first.ticket.id, Proof(user="carol"))
    reconcile(built)
    assert s.get_ticket(second.ticket.id).state is T.ASSIGNED


def test_no_token_is_in_the_database_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'lessor.sqlite'}"
    p = build(url, POOLS, clock=lambda: NOW)
    new = p.executor.call(p.service.add_user, "dave", admin=True)
    assert p.service.authenticate(new.token) == new.user
    assert p.service.authenticate(new.token + "x") is None
    p.close()
    stored = b"".join(f.read_bytes() for f in tmp_path.iterdir())
    assert new.token.encode() not in stored
    assert token_hash(new.token).encode() in stored


LAB = (
    Pool("lab", tags=(Tag("board"), Tag("x")), privilege="lab", max=2, max_prealloc=0),
    Pool("p", tags=(Tag("x"),), max=2, max_prealloc=0),
)


def test_a_pool_requiring_a_privilege_serves_only_those_who_have_it(any_url: str) -> None:
    p = build(any_url, LAB, clock=lambda: NOW)
    s, ex = p.service, p.executor
    ex.call(s.add_user, "erin", privileges=["lab"])
    ex.call(s.add_user, "frank")
    for who in ("frank", None):
        with pytest.raises(PrivilegeNeeded, match="privilege lab needed"):
            ex.call(s.open_ticket, ["board"], owner=who)
        with pytest.raises(PrivilegeNeeded):
            ex.call(s.open_job, {"b": ["board"]}, owner=who)
    lab = s.store.create_resource("lab", ["board", "x"], PATTERN, NOW)
    assert s.store.mark_up(lab.id, b"", NOW)
    # tag x: the lab pool serves it too, but not to frank; he waits for pool p
    franks = ex.call(s.open_ticket, ["x"], owner="frank")
    assert franks.resource is None
    erins = ex.call(s.open_ticket, ["board"], owner="erin")
    with p.transactions.atomic():
        snapshot = s.snapshot()
        s.applier.apply(snapshot, plan(snapshot))
    assert s.get_ticket(erins.ticket.id).resource_id == lab.id
    assert s.get_ticket(franks.ticket.id).state is T.OPEN
    p.close()
