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
from lessor.service.errors import InvalidRequest, KeyNeeded, KeyRefused, NoPoolForTags
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


@pytest.fixture
def timed(any_url: str) -> Iterator[tuple[Parts, list[float]]]:
    """Parts whose clock the test moves."""
    now = [NOW]
    parts = build(any_url, POOLS, clock=lambda: now[0])
    yield parts, now
    parts.close()


def granted_job(p: Parts, ttl: float | None = None) -> tuple[Parts, int, dict[str, int], str]:
    """A job of an x86 and an arm part, granted: the job, each part's resource, its key."""
    s, ex = p.service, p.executor
    held = {"x86": up(s.store, "x86", "x86_64"), "arm": up(s.store, "arm", "aarch64")}
    opened = ex.call(s.open_job, {"x86": ["x86_64"], "arm": ["aarch64"]}, ttl=ttl)
    reconcile(p)
    assert s.get_job(opened.job.id).state is JobState.GRANTED
    return p, opened.job.id, held, opened.key


def assert_every_part_ended_in_one_instant(p: Parts, job_id: int) -> None:
    """No part of an ended job is left active, nor holds its resource; each has an event."""
    job = p.service.get_job(job_id)
    assert all(t.state in (T.CLOSED, T.FAILED) for t in job.parts.values()), job
    ends = (K.TICKET_CLOSED, K.TICKET_EXPIRED, K.TICKET_FAILED)
    log = p.service.store.list_events(EventFilter(kinds=ends))
    ended = {e.ticket_id: e.at for e in log}
    assert {t.id for t in job.parts.values()} <= ended.keys()
    assert len({ended[t.id] for t in job.parts.values()}) == 1
    for t in job.parts.values():
        r = p.service.store.get_resource(t.resource_id)  # type: ignore[arg-type]
        assert r is None or r.state is not R.TAKEN or r.ticket_id != t.id or t.state is T.FAILED


def test_closing_one_part_by_its_ticket_closes_the_whole_job(built: Parts) -> None:
    p, job_id, held, key = granted_job(built)
    s = p.service
    part = s.get_job(job_id).parts["arm"]
    p.executor.call(s.close_ticket, part.id, Proof(key=key))
    job = s.get_job(job_id)
    assert job.state is JobState.CLOSED
    assert job.parts["x86"].state is T.CLOSED  # not left holding its VM
    reconcile(p)
    assert s.store.get_resource(held["x86"]).state is not R.TAKEN  # type: ignore[union-attr]
    assert_every_part_ended_in_one_instant(p, job_id)


def test_a_part_expiring_by_its_ttl_ends_the_whole_job(
    timed: tuple[Parts, list[float]],
) -> None:
    built, now = timed
    p, job_id, _, key = granted_job(built, ttl=60.0)
    s = p.service
    x86 = s.get_job(job_id).parts["x86"]
    p.executor.call(s.extend_ticket, x86.id, 3600.0, Proof(key=key))  # only this part renewed
    now[0] = NOW + 120
    reconcile(p)
    job = s.get_job(job_id)
    assert job.state is JobState.CLOSED
    assert job.parts["x86"].state is T.CLOSED
    reconcile(p)  # the resources of expired and closed parts are recycled in the next pass
    assert_every_part_ended_in_one_instant(p, job_id)


def test_a_parts_resource_dying_fails_the_job_and_closes_the_other_parts(built: Parts) -> None:
    p, job_id, held, _ = granted_job(built)
    s = p.service
    p.executor.call(s.delete_resource, held["arm"])
    job = s.get_job(job_id)
    assert job.state is JobState.FAILED
    assert job.parts["arm"].state is T.FAILED and job.parts["x86"].state is T.CLOSED
    assert_every_part_ended_in_one_instant(p, job_id)


def test_a_job_needing_more_than_a_pools_max_is_refused_naming_the_part_and_limit(
    built: Parts,
) -> None:
    three = {"a": ["x86_64"], "b": ["x86_64"], "c": ["x86_64"]}
    with pytest.raises(InvalidRequest, match=r"parts\.c: .*pool x86 has max 2"):
        built.executor.call(built.service.open_job, three)
    assert built.service.list_jobs() == []


def test_a_job_the_pools_no_longer_serve_after_a_reload_fails_with_the_reason(
    built: Parts,
) -> None:
    s, ex = built.service, built.executor
    kept = up(s.store, "x86", "x86_64")
    opened = ex.call(s.open_job, {"a": ["x86_64"], "b": ["x86_64"]})
    reconcile(built)
    assert s.get_job(opened.job.id).state is JobState.WAITING  # one set aside, one to start
    s.set_pools((POOLS[0].evolve(max=1), POOLS[1]))
    reconcile(built)
    job = s.get_job(opened.job.id)
    assert job.state is JobState.FAILED
    assert "can never be served: part b: pool x86 has max 1" in (job.first.message or "")
    assert all(t.state in (T.FAILED, T.CLOSED) for t in job.parts.values())
    single = ex.call(s.open_ticket, ["x86_64"])  # what it set aside serves others again
    reconcile(built)
    assert s.store.get_ticket(single.ticket.id).resource_id == kept  # type: ignore[union-attr]


def test_a_part_whose_resource_fails_its_livechecks_fails_the_job_in_one_pass(
    any_url: str,
) -> None:
    checked = (POOLS[0], POOLS[1].evolve(cmd_livecheck="true", livecheck_attempts=1))
    built = build(any_url, checked, clock=lambda: NOW)
    try:
        p, job_id, held, _ = granted_job(built)
        assert p.store.livecheck_failed(held["arm"], 1, "no answer", NOW)
        reconcile(p)  # the planner fails the arm part; its sibling is closed with it
        job = p.service.get_job(job_id)
        assert job.state is JobState.FAILED
        assert job.parts["arm"].state is T.FAILED and job.parts["x86"].state is T.CLOSED
        reconcile(p)  # the closed part's resource is recycled in the next pass
        assert_every_part_ended_in_one_instant(p, job_id)
    finally:
        built.close()


def test_a_job_whose_lease_runs_out_has_every_part_expired(
    timed: tuple[Parts, list[float]],
) -> None:
    built, now = timed
    p, job_id, _, _ = granted_job(built, ttl=60.0)
    now[0] = NOW + 120
    reconcile(p)
    job = p.service.get_job(job_id)
    assert job.state is JobState.CLOSED
    log = p.store.list_events(EventFilter(kinds=(K.TICKET_EXPIRED, K.TICKET_CLOSED)))
    assert sorted((e.ticket_id, e.kind) for e in log) == sorted(
        (t.id, K.TICKET_EXPIRED) for t in job.parts.values()
    )
