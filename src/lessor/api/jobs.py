"""JSON API v1 of jobs: parts granted together (docs/jobs.md). Thin: parse, call, render."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Body, Query, Request, status
from pydantic import BaseModel, Field, StringConstraints

from lessor.api.auth import proof_of
from lessor.api.deps import executor_of, service_of
from lessor.api.fields import Id, Priority, Seconds, Tags, Ttl
from lessor.api.schemas import MAX_WAIT, REFUSALS, ExtendIn, In
from lessor.domain.jobs import MAX_PARTS, PART_NAME, Job, JobState
from lessor.domain.states import TicketState
from lessor.service.core import LessorService, TicketAndResource
from lessor.service.keys import Proof
from lessor.service.waiting import wait_ticket

router = APIRouter(
    prefix="/api/v1",
    responses=REFUSALS,
)


PartName = Annotated[str, StringConstraints(pattern=PART_NAME)]


class PartIn(In):
    tags: Tags = Field(examples=[["x86_64"]])  # served by examples/pools.yaml


class JobIn(In):
    parts: dict[PartName, PartIn] = Field(
        min_length=1,
        max_length=MAX_PARTS,
        # served by examples/pools.yaml (aarch64 on demand)
        examples=[{"x86": {"tags": ["x86_64"]}, "arm": {"tags": ["aarch64"]}}],
    )
    priority: Priority = Field(0, description="higher is served first")
    ttl: Ttl | None = Field(None, description="lease of every part, seconds (extend to renew)")


class PartOut(BaseModel):
    ticket_id: int
    state: TicketState
    tags: list[str]
    resource_id: int | None
    data: str | None = Field(
        description="what the part's pool printed, once granted (a secret_data pool's only "
        "with the job's key)"
    )
    message: str


class JobOut(BaseModel):
    id: int
    state: JobState
    priority: int
    ttl: float | None
    created_at: datetime
    expires_at: datetime | None
    parts: dict[str, PartOut]
    waiting_reason: str | None = Field(
        None, examples=["job 7 waits for part arm: pool arm 2/2 at max; part x86 ready"]
    )


class OpenedJobOut(JobOut):
    key: str = Field(description="the job's key (Lessor-Ticket-Key), told this once")


def _out(
    service: LessorService, job: Job, proof: Proof, reason: str | None = None
) -> dict[str, object]:
    parts: dict[str, PartOut] = {}
    for name, t in job.parts.items():
        resource = service.resource_of(t) if t.resource_id else None
        data = service.data_for(TicketAndResource(t, resource), proof)
        parts[name] = PartOut(
            ticket_id=t.id,
            state=t.state,
            tags=list(t.tags),
            resource_id=t.resource_id,
            data=data.decode(errors="replace") if data is not None else None,
            message=t.message,
        )
    first = job.first
    expires = datetime.fromtimestamp(first.expires_at, UTC) if first.expires_at else None
    return {
        "id": job.id,
        "state": job.state,
        "priority": first.priority,
        "ttl": first.ttl,
        "created_at": datetime.fromtimestamp(first.created_at, UTC),
        "expires_at": expires,
        "parts": parts,
        "waiting_reason": reason if job.state is JobState.WAITING else None,
    }


@router.post("/jobs", status_code=status.HTTP_201_CREATED, response_model=OpenedJobOut)
def open_job(body: JobIn, request: Request) -> OpenedJobOut:
    """Ask for several resources at once: every part gets one in the same transaction, or
    none does; a waiting job holds nothing. The answer holds the job's `key`, told once.

    Fails with 422, naming the part, when no configured pool could ever serve it.
    """
    service = service_of(request)
    parts = {name: p.tags for name, p in body.parts.items()}
    owner = proof_of(request).user
    opened = executor_of(request).call(service.open_job, parts, body.priority, body.ttl, owner)
    holder = Proof(key=opened.key)  # the answer goes to the job's holder
    return OpenedJobOut.model_validate({**_out(service, opened.job, holder), "key": opened.key})


@router.get("/jobs/{job_id}", response_model=JobOut)
async def get_job(
    job_id: Id,
    request: Request,
    wait: Annotated[
        Seconds, Query(description=f"seconds to wait for the grant (at most {MAX_WAIT:g} count)")
    ] = 0,
) -> JobOut:
    """The job; with `wait`, answered the moment it leaves WAITING (or after `wait` s)."""
    service, executor = service_of(request), executor_of(request)
    job = await executor.run(service.get_job, job_id)
    # the parts leave OPEN together (granted, closed or expired): watching the first will do
    await wait_ticket(executor, service, job.first.id, min(wait, MAX_WAIT))
    job = await executor.run(service.get_job, job_id)
    reasons = await executor.run(service.why_waiting, list(job.parts.values()))
    return JobOut.model_validate(_out(service, job, proof_of(request), reasons.get(job.first.id)))


@router.post("/jobs/{job_id}/close", response_model=JobOut)
def close_job(job_id: Id, request: Request) -> JobOut:
    """Close every part: the job's holder (Lessor-Ticket-Key) or an admin only."""
    service, proof = service_of(request), proof_of(request)
    job = executor_of(request).call(service.close_job, job_id, proof)
    return JobOut.model_validate(_out(service, job, proof))


@router.post("/jobs/{job_id}/extend", response_model=JobOut)
def extend_job(
    job_id: Id, request: Request, body: Annotated[ExtendIn | None, Body()] = None
) -> JobOut:
    """Renew every part's lease: `ttl` seconds from now (default: the job's own TTL)."""
    service, proof = service_of(request), proof_of(request)
    ttl = body.ttl if body else None
    job = executor_of(request).call(service.extend_job, job_id, ttl, proof)
    return JobOut.model_validate(_out(service, job, proof))


@router.get("/jobs", response_model=list[JobOut])
def list_jobs(request: Request) -> list[JobOut]:
    """Active jobs (a part still open or assigned); data only as anyone may see it."""
    service = service_of(request)
    return [JobOut.model_validate(_out(service, j, Proof())) for j in service.list_jobs()]
