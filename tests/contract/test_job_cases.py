"""Jobs in the store and through the service, on memory, SQLite and PostgreSQL: every part
granted in one transaction or none, and a waiting job holds nothing (checked from the log)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lessor.domain.events import EventFilter
from lessor.domain.jobs import JobState
from lessor.domain.kinds import EventKind as K
from lessor.domain.model import Pool, Tag
from lessor.domain.states import ResourceState as R
from lessor.domain.states import TicketState as T
from lessor.planner.plan import plan
from lessor.server import Parts, build
from lessor.service.errors import KeyNeeded, KeyRefused, NoPoolForTags
from lessor.service.keys import ADMIN, Proof
from lessor.store.interface import Store

NOW = 1_700_000_000.0
PATTERN = "{pool_name}_{id:08d}"
POOLS = (
    Pool("x86", tags=(Tag("x86_64"),), max=2, max_prealloc=0),
    Pool("arm", tags=(Tag("aarch64"),), max=1, max_prealloc=0),
)


def up(store: Store, pool: str, tag: str) -> int:
    r = store.create_resource(pool, [tag], PATTERN, NOW)
    assert store.mark_up(r.id, f"{pool}-{r.id}".encode(), NOW)
    return r.id


def test_a_job_opens_a_ticket_per_part_naming_it(store: Store) -> None:
    parts = store.open_job({"x86": ["x86_64"], "arm": ["aarch64"]}, 3, NOW, 60.0, "h" * 64)
    assert [t.part for t in parts] == ["x86", "arm"]
    assert {t.job_id for t in parts} == {parts[0].id}
    assert all(t.state is T.OPEN and t.key_hash == "h" * 64 and t.priority == 3 for t in parts)
    assert store.job_parts(parts[0].id) == parts
    assert store.job_parts(parts[0].id + 100) == []
    kinds = [e.kind for e in store.list_events(EventFilter())]
    assert kinds == [K.TICKET_OPENED, K.TICKET_OPENED, K.JOB_OPENED]


def test_a_grant_is_every_part_or_none(store: Store) -> None:
    a, b = up(store, "x86", "x86_64"), up(store, "arm", "aarch64")
    parts = store.open_job({"x86": ["x86_64"], "arm": ["aarch64"]}, 0, NOW)
    other = store.open_ticket(["aarch64"], None, 0, NOW)
    assert store.assign(other.id, b, NOW)  # b went to someone else meanwhile
    grants = [(parts[0].id, a), (parts[1].id, b)]
    assert not store.grant_job(parts[0].id, grants, NOW)
    assert [t.state for t in store.job_parts(parts[0].id)] == [T.OPEN, T.OPEN]
    assert store.get_resource(a).state is R.UP  # type: ignore[union-attr]
    assert store.close_ticket(other.id, NOW) is not None
    assert store.reuse_at_once(store.get_resource(b), "s", NOW) is not None  # type: ignore[arg-type]
    assert store.grant_job(parts[0].id, grants, NOW)
    assert [t.state for t in store.job_parts(parts[0].id)] == [T.ASSIGNED, T.ASSIGNED]
    (granted,) = store.list_events(EventFilter(kinds=(K.JOB_GRANTED,)))
    assert granted.details["parts"] == {str(parts[0].id): a, str(parts[1].id): b}


@pytest.fixture
def built(any_url: str) -> Iterator[Parts]:
    parts = build(any_url, POOLS, clock=lambda: NOW)
    yield parts
    parts.close()


def reconcile(p: Parts) -> None:
    """One planner pass, applied as the reconciler applies it (one transaction)."""
    with p.transactions.atomic():
        snapshot = p.service.snapshot()
        p.service.applier.apply(snapshot, plan(snapshot))


def test_two_jobs_that_would_deadlock_one_by_one_both_get_their_parts(built: Parts) -> None:
    s, ex = built.service, built.executor
    up(s.store, "x86", "x86_64")
    up(s.store, "arm", "aarch64")
    first = ex.call(s.open_job, {"a": ["x86_64"], "b": ["aarch64"]})
    second = ex.call(s.open_job, {"b": ["aarch64"], "a": ["x86_64"]})
    reconcile(built)
    assert s.get_job(first.job.id).state is JobState.GRANTED
    assert s.get_job(second.job.id).state is JobState.WAITING
    assert ex.call(s.close_job, first.job.id, Proof(key=first.key)).state is JobState.CLOSED
    reconcile(built)  # resources recycled (no reuse: deleted), nothing for the second yet
    up(s.store, "x86", "x86_64")
    up(s.store, "arm", "aarch64")
    reconcile(built)
    assert s.get_job(second.job.id).state is JobState.GRANTED
    assert_no_waiting_part_held_anything(s.store)


def assert_no_waiting_part_held_anything(store: Store) -> None:
    """From the event log: every part of a job got its resource in the job's grant, at the
    same instant as its siblings, and never before the job.granted event."""
    log = store.list_events(EventFilter(limit=10_000))
    job_of = {
        e.ticket_id: e.details["job"]
        for e in log
        if e.kind == K.TICKET_OPENED and "job" in e.details
    }
    granted = {e.ticket_id: e for e in log if e.kind == K.JOB_GRANTED}
    for i, e in enumerate(log):
        if e.kind != K.TICKET_ASSIGNED or e.ticket_id not in job_of:
            continue
        grant = granted[job_of[e.ticket_id]]
        assert str(e.ticket_id) in grant.details["parts"]
        assert e.at == grant.at and e.id < grant.id
        # the grant follows its parts' assignments with nothing else in between
        between = [x for x in log if e.id < x.id < grant.id]
        assert all(x.kind == K.TICKET_ASSIGNED and x.ticket_id in job_of for x in between), i


def test_only_the_jobs_holder_or_an_admin_closes_or_extends_it(built: Parts) -> None:
    s, ex = built.service, built.executor
    opened = ex.call(s.open_job, {"x86": ["x86_64"]}, ttl=60.0)
    stranger = ex.call(s.open_job, {"x86": ["x86_64"]})
    for act in (s.close_job, s.extend_job):
        with pytest.raises(KeyNeeded):
            ex.call(act, opened.job.id, proof=Proof())
        with pytest.raises(KeyRefused):
            ex.call(act, opened.job.id, proof=Proof(key=stranger.key))
    assert ex.call(s.extend_job, opened.job.id, 120.0, Proof(key=opened.key)).first.ttl == 120.0
    assert ex.call(s.close_job, opened.job.id, ADMIN).state is JobState.CLOSED


def test_a_part_no_pool_serves_is_refused_naming_it(built: Parts) -> None:
    with pytest.raises(NoPoolForTags, match=r"parts\.gpu"):
        built.executor.call(built.service.open_job, {"x86": ["x86_64"], "gpu": ["cuda"]})
