"""Jobs: named parts (tickets) granted together in one transaction or not at all.

A job is no row of its own: its parts are tickets that name it (`Ticket.job_id`,
the id of its first part, and `Ticket.part`), so every rule of a ticket (lease,
key, expiry, recycling) holds for each part, and the job's state is derived from
theirs. While a job waits its parts are OPEN and hold nothing; the planner
grants them all at once (planner/jobs.py), never one by one, so no job holds a
resource while it waits for another: deadlock is impossible by construction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from lessor.domain.events import Event
from lessor.domain.kinds import EventKind as K
from lessor.domain.model import Ticket
from lessor.domain.states import TicketState

T = TicketState

PART_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
"""A part's name: short and plain, as it becomes an environment variable's name
(`lessor job-wait --env`: LESSOR_PART_X86)."""
MAX_PARTS = 32
"""More parts than this is a mistake, and would make one grant a long transaction."""


class JobState(StrEnum):
    WAITING = "WAITING"
    """No part has a resource yet; the job holds nothing."""
    GRANTED = "GRANTED"
    """Every part got its resource, in one transaction."""
    CLOSED = "CLOSED"
    """Every part is closed (or expired): the resources are given back."""
    FAILED = "FAILED"
    """A part failed (its resource died or was deleted, or the job can never be served);
    the other parts were closed with it (service/jobs.py, end_whole_job)."""


@dataclass(frozen=True)
class Job:
    id: int
    parts: Mapping[str, Ticket]
    """Its tickets by part name."""

    @classmethod
    def of(cls, tickets: Iterable[Ticket]) -> Job:
        parts = {t.part or str(t.id): t for t in sorted(tickets, key=lambda t: t.id)}
        first = next(iter(parts.values()))
        assert first.job_id is not None, f"ticket {first.id} is no part of a job"
        return cls(first.job_id, parts)

    @property
    def state(self) -> JobState:
        states = {t.state for t in self.parts.values()}
        if T.FAILED in states:
            return JobState.FAILED
        if states <= {T.CLOSED}:
            return JobState.CLOSED
        if states <= {T.ASSIGNED}:
            return JobState.GRANTED
        if states <= {T.OPEN}:
            return JobState.WAITING
        return JobState.CLOSED  # some closed, some not: being closed

    @property
    def first(self) -> Ticket:
        return next(iter(self.parts.values()))

    @property
    def ended(self) -> bool:
        return self.state in (JobState.CLOSED, JobState.FAILED)


def job_opened(job_id: int, parts: Mapping[str, Ticket], now: float) -> Event:
    details = {"parts": {name: list(t.tags) for name, t in parts.items()}}
    return Event(K.JOB_OPENED, now, ticket_id=job_id, details=details)


def job_granted(job_id: int, parts: Mapping[str, int], opened_at: float, now: float) -> Event:
    """`parts`: the resource id each part got."""
    details = {"parts": dict(parts), "waited": max(0.0, now - opened_at), "job": job_id}
    return Event(K.JOB_GRANTED, now, ticket_id=job_id, details=details)
