"""What each transition writes besides the state: the fields of the row it moves.

The transition table (states.py) says which state may follow which; these
say what else changes with each move, once, for every store: the SQL store
turns a change into the SET list of its guarded UPDATE, the memory store
into `evolve()`, and a caller holding the entity gets it as moved without
reading it back. `INCREMENT` stands for "the field's value plus one", so
counters are bumped by the database itself, never read and written back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, TypeVar

from lessor.domain.model import Claim
from lessor.domain.values import Evolving


class _Increment:
    def __repr__(self) -> str:
        return "INCREMENT"


INCREMENT: Final = _Increment()
"""A change's value: the field's value plus one."""


class Keep:
    """A change's value: the field's value if it has one, else `default` (a first time)."""

    __slots__ = ("default",)

    def __init__(self, default: Any) -> None:
        self.default = default

    def __repr__(self) -> str:
        return f"Keep({self.default!r})"


Change = Mapping[str, Any]
E = TypeVar("E", bound=Evolving)


def applied(entity: E, change: Change, **also: Any) -> E:
    """The entity with the change (and the fields in `also`, its new state) made: what the
    store's UPDATE wrote."""
    values = {k: _value(entity, k, v) for k, v in change.items()}
    values.update(also)
    return entity.evolve(**values)


def _value(entity: Evolving, field: str, value: Any) -> Any:
    if value is INCREMENT:
        return getattr(entity, field) + 1
    if isinstance(value, Keep):
        current = getattr(entity, field)
        return current if current is not None else value.default
    return value


# ---- tickets ---------------------------------------------------------------


def ticket_assigned(resource_id: int, now: float) -> Change:
    return {"resource_id": resource_id, "assigned_at": now}


def ticket_closed(now: float) -> Change:
    return {"closed_at": now}


def ticket_ended(message: str, now: float) -> Change:
    """Failed (it can never be served) or expired: closed with a message saying why."""
    return {"message": message, "closed_at": now}


def ticket_extended(ttl: float, now: float) -> Change:
    return {"ttl": ttl, "expires_at": now + ttl}


# ---- resources -------------------------------------------------------------


def resource_up(data: bytes, now: float) -> Change:
    return {"data": data, "state_since": now}


def resource_taken(ticket_id: int, sandbox: str | None, now: float) -> Change:
    """A ticket's now: its sandbox is the resource's from here on, its reservation void;
    its first ticket starts the count of `reuse_max_time` (sandboxed_since)."""
    return {
        "ticket_id": ticket_id,
        "sandbox": sandbox,
        "state_since": now,
        "reserved_for": None,
        "sandboxed_since": Keep(now),
    }


def resource_releasing(sandbox: str | None, now: float) -> Change:
    return {"sandbox": sandbox, "state_since": now, "released_at": now}


def resource_released(now: float) -> Change:
    return {"ticket_id": None, "releases": INCREMENT, "state_since": now}


def resource_reused(sandbox: str | None, now: float) -> Change:
    """RELEASE and RELEASED in one step, for a pool without cmd_release: both changes."""
    return {**resource_releasing(sandbox, now), **resource_released(now)}


def delete_requested(message: str, now: float) -> Change:
    return {
        "message": message,
        "state_since": now,
        "next_attempt_at": now,
    }


def resource_deleting(now: float) -> Change:
    return {"state_since": now}


def resource_ended(now: float) -> Change:
    return {"state_since": now}


def delete_failed(message: str, retry_at: float) -> Change:
    return {
        "message": message,
        "next_attempt_at": retry_at,
        "delete_attempts": INCREMENT,
    }


def livecheck_passed(now: float) -> Change:
    return {"last_livecheck": now, "livecheck_failures": 0}


def livecheck_failed(message: str, now: float) -> Change:
    return {"last_livecheck": now, "livecheck_failures": INCREMENT, "message": message}


def hook_claimed(claim: Claim) -> Change:
    """A hook runs on the resource from now on: no other is started on it meanwhile."""
    return {"hook": claim.hook, "hook_owner": claim.owner, "hook_until": claim.until}


HOOK_DONE: Final[Change] = {"hook": None, "hook_owner": "", "hook_until": None}
"""The claim of a hook that ended: its outcome is stored in the same transaction."""
