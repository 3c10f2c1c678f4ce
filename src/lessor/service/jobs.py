"""Use cases of jobs: open one of several parts, read it, close it, extend it.

A mixin of LessorService. A job's parts are tickets (domain/jobs.py): they share
one key, given once when the job is opened, and the planner grants them together
(planner/jobs.py); these use cases never assign anything themselves.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from lessor.domain.jobs import MAX_PARTS, PART_NAME, Job
from lessor.domain.matching import unservable_tags
from lessor.domain.model import Pool, Resource, Ticket
from lessor.domain.states import ACTIVE_TICKET_STATES
from lessor.planner.jobs import beyond_max
from lessor.planner.messages import no_pool_message
from lessor.service import keys
from lessor.service.errors import (
    Conflict,
    InvalidRequest,
    KeyNeeded,
    KeyRefused,
    NoPoolForTags,
    NotFound,
)
from lessor.service.executor import writes
from lessor.service.keys import ANONYMOUS, Proof, Who
from lessor.service.policy import check_ttl
from lessor.service.signals import SOON, Signals
from lessor.store.interface import Store


@dataclass(frozen=True)
class OpenedJob:
    job: Job
    key: str
    """The job's key (each part's ticket key too), told this once."""


def end_whole_job(
    store: Store, part: Ticket, now: float, lapsed: str | None = None
) -> list[tuple[Ticket, Resource | None]]:
    """A job ends as a whole: once one part is closed, expired or failed (its resource
    died, or the job can never be served), every other active part is closed in the same
    transaction, each with its own event, so no part keeps a resource for a job that is
    over. `lapsed`: the part expired, with this message; a sibling whose lease has run
    out too is expired alike (ticket.expired), any other closed (ticket.closed).
    Returns what ended, with the resource each held when it is to be recycled now
    (None for an expired one: the next pass recycles it, as for any expiry)."""
    if part.job_id is None:
        return []
    ended: list[tuple[Ticket, Resource | None]] = []
    for other in store.job_parts(part.job_id):
        if other.id == part.id or other.state not in ACTIVE_TICKET_STATES:
            continue
        if lapsed is not None and store.expire_ticket(other.id, lapsed, now):
            ended.append((other, None))
        elif (closed := store.close_ticket(other.id, now)) is not None:
            ended.append(closed)
    return ended


class JobCases:
    store: Store
    signals: Signals
    clock: Callable[[], float]
    pools: tuple[Pool, ...]
    resource_of: Callable[[Ticket], Resource | None]
    _recycle_at_once: Callable[[Ticket, Resource | None, float], Resource | None]
    _privileged: Callable[[Proof], bool]
    check_privilege: Callable[[Iterable[str], str | None], None]

    @writes
    def open_job(
        self,
        parts: Mapping[str, list[str]],
        priority: int = 0,
        ttl: float | None = None,
        owner: str | None = None,
    ) -> OpenedJob:
        """A ticket for each named part, granted together by the planner or not at all.
        Refused at once, naming the part, when a part is empty, no pool has its tags, or
        the parts together need more than the pools' `max` (it would wait for ever)."""
        if not parts:
            raise InvalidRequest("parts: a job needs at least one part")
        if len(parts) > MAX_PARTS:
            raise InvalidRequest(f"parts: at most {MAX_PARTS}")
        check_ttl(ttl)
        tidy: dict[str, list[str]] = {}
        for name, tags in parts.items():
            if not re.match(PART_NAME, name):
                raise InvalidRequest(f"parts: {name!r} is no part name ({PART_NAME})")
            cleaned = list(dict.fromkeys(t.strip() for t in tags))
            if not cleaned or any(not t for t in cleaned):
                raise InvalidRequest(f"parts.{name}.tags: at least one non-empty tag")
            missing = unservable_tags(self.pools, cleaned)
            if missing:
                raise NoPoolForTags(f"{no_pool_message(missing)} (parts.{name})", missing)
            self.check_privilege(cleaned, owner)
            tidy[name] = cleaned
        beyond = beyond_max(self.pools, tidy)
        if beyond is not None:
            raise InvalidRequest(f"parts.{beyond[0]}: can never be served: {beyond[1]}")
        key = keys.new_key(b"", None)
        opened = self.store.open_job(tidy, priority, self.clock(), ttl, keys.key_hash(key))
        if owner is not None:
            self.store.set_owner([t.id for t in opened], owner)
            opened = [t.evolve(owner=owner) for t in opened]
        self.signals.wake_reconciler(0.0)  # the planner grants jobs, never a fast path
        return OpenedJob(Job.of(opened), key)

    def _end_rest_of_job(self, part: Ticket, now: float) -> None:
        """A part was closed on its own: close the rest of its job now (end_whole_job),
        giving each resource back as close_ticket does."""
        for ticket, resource in end_whole_job(self.store, part, now):
            self._recycle_at_once(ticket, resource, now)
            self.signals.ticket_changed(ticket.id)

    def get_job(self, job_id: int) -> Job:
        parts = self.store.job_parts(job_id)
        if not parts:
            raise NotFound(f"job {job_id} does not exist")
        return Job.of(parts)

    def authorize_job(self, job: Job, proof: Proof, what: str) -> None:
        """Raise unless the proof is of the job's holder (its key) or an admin."""
        if self._privileged(proof) or proof.who(job.first.key_hash, job.first.owner) is Who.HOLDER:
            return
        if proof.key is not None:
            raise KeyRefused(f"job {job.id}: the key given is not this job's")
        raise KeyNeeded(
            f"job {job.id}: to {what} it, give its key ({keys.HEADER}: KEY, what opening "
            "it answered) or the admin token"
        )

    @writes
    def close_job(self, job_id: int, proof: Proof = ANONYMOUS) -> Job:
        """Close every part still active (its holder or an admin only); each resource is
        given back as a closed ticket's is."""
        job = self.get_job(job_id)
        self.authorize_job(job, proof, "close")
        now = self.clock()
        for part in job.parts.values():
            closed = self.store.close_ticket(part.id, now)
            if closed is not None:
                self._recycle_at_once(closed[0], closed[1], now)
                self.signals.ticket_changed(part.id)
        self.signals.wake_reconciler(SOON)
        return self.get_job(job_id)

    @writes
    def extend_job(self, job_id: int, ttl: float | None = None, proof: Proof = ANONYMOUS) -> Job:
        """Renew every active part's lease for `ttl` seconds (by default the job's own)."""
        check_ttl(ttl)
        job = self.get_job(job_id)
        self.authorize_job(job, proof, "extend")
        active = [p for p in job.parts.values() if p.state in ACTIVE_TICKET_STATES]
        if not active:
            raise Conflict(f"job {job_id} is {job.state}; only an active one can be extended")
        ttl = ttl if ttl is not None else job.first.ttl
        if ttl is None:
            raise InvalidRequest(f"job {job_id} has no TTL; say for how long (ttl)")
        now = self.clock()
        for part in active:
            if not self.store.extend_ticket(part.id, ttl, now):
                raise Conflict(f"job {job_id} ended meanwhile; it cannot be extended")
        self.signals.wake_reconciler()
        return self.get_job(job_id)

    def list_jobs(self) -> list[Job]:
        """Jobs with a part still active, by id."""
        active = self.store.list_tickets(list(ACTIVE_TICKET_STATES))
        job_ids = sorted({t.job_id for t in active if t.job_id is not None})
        return [self.get_job(j) for j in job_ids]
