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


def resource_line(r: Resource, ticket_failed: bool = False) -> str:
    """`ticket_failed`: the ticket the resource names failed with it (see ticket_of)."""
    # resalloc records a resource's tags when its cmd_new has finished
    tags = "" if r.state is R.STARTING else ",".join(r.tags)
    return (
        f"{r.id} - {r.name} pool={r.pool} tags={tags} "
        f"status={resalloc_state(r.state)} releases={r.releases} "
        f"ticket={_or_null(ticket_of(r, ticket_failed))}"
    )


def ticket_of(r: Resource, ticket_failed: bool) -> int | None:
    """resalloc's `ticket_id` of a resource: the ticket holding it, or the one that failed
    when it died or was deleted (resalloc unlinks a ticket only when it gives the resource
    back, which a failed ticket never does)."""
    if r.ticket_id is not None and (r.state is R.TAKEN or ticket_failed):
        return r.ticket_id
    return None


def _or_null(value: int | None) -> str:
    return "NULL" if value is None else str(value)


def ticket_line(t: Ticket, resource_name: str | None) -> str:
    line = f"{t.id} - state={ticket_state(t.state)} tags={','.join(t.tags)}"
    return f"{line} resource={resource_name}" if resource_name is not None else line


def data_text(data: bytes | None) -> str:
    return data.decode("utf8", errors="replace") if data else ""


def resource_info(r: Resource, ticket_failed: bool = False) -> str:
    """resalloc's resource-info: its resources table's columns, in the table's order, then
    what lessor adds."""
    info: dict[str, Any] = {
        "id": r.id,
        "name": r.name,
        "user": None,  # resalloc's column, never set by resalloc itself
        "data": None if r.data is None else data_text(r.data).strip(),
        "pool": r.pool,
        "state": resalloc_state(r.state),
        "check_last_time": r.last_livecheck,
        "check_failed_count": r.livecheck_failures,
        "ticket_id": ticket_of(r, ticket_failed),
        "sandbox": r.sandbox,
        "sandboxed_since": r.sandboxed_since,
        "released_at": r.released_at,
        "releases_counter": r.releases,
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
