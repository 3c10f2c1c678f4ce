"""The kinds of events: what can happen to a ticket, a resource or a pool.

Kinds are strings in the database ("ticket.assigned"), so an event written
by a newer server still reads back as a plain string. Which kinds move a
ticket or a resource, and from where to where, is the transition table's
(states.py).
"""

from __future__ import annotations

from enum import StrEnum


class EventKind(StrEnum):
    TICKET_OPENED = "ticket.opened"
    TICKET_ASSIGNED = "ticket.assigned"
    """The ticket got a resource, which is TAKEN from now on; details: waited (seconds)."""
    TICKET_CLOSED = "ticket.closed"
    TICKET_FAILED = "ticket.failed"
    """It can never be satisfied; the message says why."""
    TICKET_EXPIRED = "ticket.expired"
    """Its TTL ran out without a renewal; it is closed."""

    JOB_OPENED = "job.opened"
    """A job and its parts (one ticket.opened each) were opened; details: parts."""
    JOB_GRANTED = "job.granted"
    """Every part of the job got its resource in this one transaction (one ticket.assigned
    each); details: parts ({part: resource id}), waited (seconds)."""

    RESOURCE_CREATED = "resource.created"
    """A row exists and cmd_new is about to run (STARTING)."""
    RESOURCE_UP = "resource.up"
    RESOURCE_RELEASING = "resource.releasing"
    RESOURCE_RELEASED = "resource.released"
    """cmd_release succeeded (or none was needed): UP again for a later ticket of the same
    sandbox."""
    RESOURCE_DELETE_REQUESTED = "resource.delete_requested"
    RESOURCE_DELETING = "resource.deleting"
    RESOURCE_ENDED = "resource.ended"
    RESOURCE_DELETE_FAILED = "resource.delete_failed"
    """cmd_delete failed; details: retry_at. Back to DELETE_REQUESTED."""
    RESOURCE_LIVECHECK_FAILED = "resource.livecheck_failed"
    """details: failures (in a row) and attempts (the pool's limit)."""
    RESOURCE_IMPORTED = "resource.imported"
    """Taken over from another system (resalloc) as it was there; details: state."""
    RESOURCE_HELD = "resource.held"
    RESOURCE_UNHELD = "resource.unheld"

    CREDENTIAL_REVOKED = "credential.revoked"
    """A credential pool's cmd_delete succeeded: the credential is dead from now on (after
    its resource.ended, in the same transaction)."""
    CREDENTIAL_EXTEND_FAILED = "credential.extend_failed"
    """cmd_extend failed: the ticket's lease is cut back to the credential's own end (which
    the credential keeps); details: expires_at. Extending again tries again."""

    HOOK_STARTED = "hook.started"
    """details: hook (cmd_new, cmd_livecheck, cmd_release, cmd_delete) and log (file name)."""
    HOOK_FINISHED = "hook.finished"
    """details: hook, exit_code, duration (seconds), ok."""

    POOL_DRAINED = "pool.drained"
    POOL_UNDRAINED = "pool.undrained"
    POOL_SPARES = "pool.spares"
    """The spares sized by target_wait changed; details: spares, was; the message says why."""
