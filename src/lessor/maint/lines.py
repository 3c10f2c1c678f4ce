"""resalloc-maint's output, line for line: operators' scripts parse these."""

from __future__ import annotations

import json
from typing import Any

from lessor.domain.model import Resource, Ticket
from lessor.domain.states import ResourceState, TicketState

R = ResourceState

RESALLOC_STATE = {
    R.STARTING: "STARTING",
    R.UP: "UP",
    R.TAKEN: "UP",  # resalloc: UP with a ticket
    R.RELEASING: "RELEASING",
    R.DELETE_REQUESTED: "DELETE_REQUEST",
    R.DELETING: "DELETING",
    R.ENDED: "ENDED",
}
"""Our resource states by the names resalloc gives them."""


def resalloc_state(state: ResourceState) -> str:
    return RESALLOC_STATE[state]


def ticket_state(state: TicketState) -> str:
    """resalloc has no ASSIGNED: a ticket with a resource is still OPEN there."""
    return "OPEN" if state is TicketState.ASSIGNED else str(state)


def resource_line(r: Resource) -> str:
    ticket = r.ticket_id if r.state is R.TAKEN and r.ticket_id is not None else "NULL"
    return (
        f"{r.id} - {r.name} pool={r.pool} tags={','.join(r.tags)} "
        f"status={resalloc_state(r.state)} releases={r.releases} ticket={ticket}"
    )


def ticket_line(t: Ticket, resource_name: str | None) -> str:
    line = f"{t.id} - state={ticket_state(t.state)} tags={','.join(t.tags)}"
    return f"{line} resource={resource_name}" if resource_name is not None else line


def data_text(data: bytes | None) -> str:
    return data.decode("utf8", errors="replace") if data else ""


def resource_info(r: Resource) -> str:
    """resalloc's resource-info keys (its column names), then what lessor adds."""
    info: dict[str, Any] = {
        "id": r.id,
        "name": r.name,
        "pool": r.pool,
        "state": resalloc_state(r.state),
        "data": data_text(r.data).strip() or None,
        "ticket_id": r.ticket_id if r.state is R.TAKEN else None,
        "sandbox": r.sandbox,
        "releases_counter": r.releases,
        "check_last_time": r.last_livecheck,
        "check_failed_count": r.livecheck_failures,
        "lessor_state": str(r.state),
        "tags": list(r.tags),
        "id_in_pool": r.id_in_pool,
        "named_counters": dict(r.counters),
        "created_at": r.created_at,
        "state_since": r.state_since,
        "message": r.message,
    }
    return json.dumps(info, indent=4)


def foreach_values(r: Resource) -> dict[str, object]:
    """What `foreach-resource --command` may mention: resalloc's three, and a few more."""
    return {
        "name": r.name,
        "state": resalloc_state(r.state),
        "data_utf8": data_text(r.data),
        "id": r.id,
        "pool": r.pool,
        "id_in_pool": r.id_in_pool,
    }
