"""The native API of the capacity model: providers and allocation candidates.

`GET /api/v1/candidates` takes Placement's query syntax (`resources`,
`required` with `!` and `in:`, `member_of`, `limit`) and adds what Placement
lacks: a `budget` of combinations (the answer says `truncated` when it ran
out) and `explain`, which lists why each rejected provider was rejected.
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Query, Request
from pydantic import BaseModel, StringConstraints

from lessor.api.auth import is_admin_token, is_agent_token
from lessor.api.schemas import ErrorOut
from lessor.domain import candidates as search
from lessor.domain.capacity import CapacityError
from lessor.service.capacity import CapacityService
from lessor.service.errors import Conflict, InvalidRequest, NotFound

router = APIRouter(
    prefix="/api/v1",
    tags=["capacity"],
    responses={404: {"model": ErrorOut}, 409: {"model": ErrorOut}, 422: {"model": ErrorOut}},
)

RESOURCES = r"^[A-Z][A-Z0-9_]*:[1-9][0-9]{0,8}(,[A-Z][A-Z0-9_]*:[1-9][0-9]{0,8})*$"
TRAITS = r"^(in:[A-Z][A-Z0-9_]*(,[A-Z][A-Z0-9_]*)*|!?[A-Z][A-Z0-9_]*(,!?[A-Z][A-Z0-9_]*)*)$"
AGGREGATES = r"^!?(in:)?[0-9a-f-]+(,[0-9a-f-]+)*$"


class InventoryOut(BaseModel):
    total: int
    reserved: int
    capacity: int
    used: int


class ProviderOut(BaseModel):
    uuid: str
    name: str
    generation: int
    parent_uuid: str | None
    root_uuid: str
    inventories: dict[str, InventoryOut]
    traits: list[str]
    aggregates: list[str]
    reason: str | None
    """Why nothing is placed on it (`down`: its agent has been silent too long), or null."""


class HeartbeatOut(BaseModel):
    was_down: bool
    """Whether the provider was down until this heartbeat (it is not any more)."""


class CandidatesOut(BaseModel):
    allocation_requests: list[dict[str, dict[str, int]]]
    """Provider uuid → resource class → amount, one mapping per candidate."""
    truncated: bool
    rejected: dict[str, list[str]]
    """Provider name → why it could not serve (with explain=true)."""


def _capacity(request: Request) -> CapacityService:
    found: CapacityService | None = getattr(request.app.state, "capacity", None)
    if found is None:
        raise NotFound("this server keeps no providers")
    return found


@router.get("/providers", response_model=list[ProviderOut])
def list_providers(request: Request) -> list[ProviderOut]:
    states = _capacity(request).states()
    return [
        ProviderOut(
            uuid=s.uuid,
            name=s.provider.name,
            generation=s.provider.generation,
            parent_uuid=s.provider.parent_uuid,
            root_uuid=s.root,
            inventories={
                rc: InventoryOut(
                    total=i.total,
                    reserved=i.reserved,
                    capacity=i.capacity,
                    used=s.used.get(rc, 0),
                )
                for rc, i in sorted(s.inventories.items())
            },
            traits=sorted(s.traits),
            aggregates=sorted(s.aggregates),
            reason=s.reason,
        )
        for s in sorted(states, key=lambda s: s.provider.name)
    ]


@router.get("/candidates", response_model=CandidatesOut)
def candidates(
    request: Request,
    resources: Annotated[str, Query(description="VCPU:2,MEMORY_MB:4096", pattern=RESOURCES)],
    required: Annotated[
        list[Annotated[str, StringConstraints(pattern=TRAITS)]] | None, Query()
    ] = None,
    member_of: Annotated[
        list[Annotated[str, StringConstraints(pattern=AGGREGATES)]] | None, Query()
    ] = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
    budget: Annotated[int, Query(ge=1, le=10_000_000)] = 100_000,
    explain: bool = False,
) -> CandidatesOut:
    query: dict[str, list[str]] = {"resources": [resources]}
    query["required"] = required or []
    query["member_of"] = member_of or []
    if limit is not None:
        query["limit"] = [str(limit)]
    try:
        asked = search.parse_request(query)
        found, states = _capacity(request).candidates(asked, budget=budget, explain=explain)
    except search.Contradiction as e:  # well formed, and never satisfiable
        raise Conflict(str(e)) from None
    except search.BadQuery as e:
        raise InvalidRequest(str(e)) from None
    except CapacityError as e:  # an unknown resource class or trait
        raise NotFound(str(e)) from None
    return CandidatesOut(
        allocation_requests=found.allocation_requests,
        truncated=found.truncated,
        rejected={states[u].provider.name: why for u, why in sorted(found.rejected.items())},
    )


@router.post("/agents/{uuid}/heartbeat", response_model=HeartbeatOut)
def heartbeat(
    request: Request, uuid: str, authorization: Annotated[str | None, Header()] = None
) -> HeartbeatOut:
    """`lessor agent`'s heartbeat for its host (root provider `uuid`): with the agent
    token or the admin token. A provider silent for `agent_silence` seconds is down."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(401, "this needs the agent token (Authorization: Bearer TOKEN)")
    if not (is_agent_token(request, token) or is_admin_token(request, token)):
        raise HTTPException(403, "not the agent token")
    try:
        was_down = _capacity(request).heartbeat(uuid, time.time())
    except CapacityError as e:
        raise NotFound(str(e)) from None
    return HeartbeatOut(was_down=was_down)
