"""The storage interface the service layer and reconciler depend on, and its unit of work.

`Store` is storage only. Every method that changes state is named after the
transition it makes (domain/states.py), is guarded by the states that
transition starts from, and returns False or None (changing nothing) when
someone else moved the row first: that is what lets several servers share
one database without ever handing a resource to two tickets. A call joins
the transaction open on its thread, or is one of its own.

`Transactions` is how calls are made one transaction, and what a commit
tells: it belongs to the executor (service/executor.py) that the server's
composition builds, never to the use cases themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Protocol

from lessor.domain.events import Event, EventFilter
from lessor.domain.model import Claim, Pool, Resource, Ticket
from lessor.domain.paging import Page
from lessor.domain.states import ResourceState, TicketState
from lessor.domain.users import User

EventListener = Callable[[list[Event]], None]


class GroupPart(Protocol):
    first: bool
    """Whether this part opened the group (its caller sees that it gets committed)."""
    on_commit: list[Callable[[BaseException | None], None]]
    """Called once the group has committed, with the error if it could not."""


class Transactions(Protocol):
    inline: bool
    """Calls are short and local (SQLite, memory): the event loop may make them itself."""

    on_events: EventListener | None
    """Called with the events of each transaction once it has committed."""

    def atomic(self) -> AbstractContextManager[None]:
        """Every store call inside, on this thread, is one transaction: all of it or none."""
        ...

    def part(self) -> AbstractContextManager[GroupPart]:
        """The block as one part of this thread's group transaction (only where `inline`):
        committed with the other parts by `commit_group()`; an exception before it wrote
        undoes only it, one after undoes the group and tells every part."""
        ...

    def commit_group(self) -> None:
        """Commit this thread's group transaction, if any, and tell its parts."""
        ...

    def close(self) -> None: ...


class Closing(Protocol):
    def close(self) -> None: ...


class Leadership(Protocol):
    sole: bool
    """The only server its database can have (SQLite, memory): it always leads."""
    heartbeat: float
    """Seconds between calls to `keep` (the database's lock limits how long a lead lasts)."""

    def keep(self) -> bool:
        """Whether this server leads now (renewing the lead it holds, or taking it if free);
        blocks for a round trip, never raises; call every `heartbeat` seconds."""
        ...

    def close(self) -> None: ...


class Store(Protocol):
    # ---- tickets ---------------------------------------------------------
    def open_ticket(
        self,
        tags: list[str],
        sandbox: str | None,
        priority: int,
        now: float,
        ttl: float | None = None,
        key_hash: str | None = None,
        idempotency_key: str | None = None,
    ) -> Ticket:
        """OPEN; with an `idempotency_key` already used, the ticket opened then instead (even
        when another server opened it a moment ago), and nothing is written."""
        ...

    def get_ticket(self, ticket_id: int) -> Ticket | None: ...
    def list_tickets(
        self, states: Collection[TicketState] | None = None, page: Page | None = None
    ) -> list[Ticket]:
        """In id order; with `page`, only that page (in its order)."""
        ...

    def open_tickets_before(self, ticket_id: int) -> int:
        """How many tickets opened before this one still wait."""
        ...

    def tickets_for_snapshot(self) -> list[Ticket]:
        """Active tickets, and ended ones whose resource is still TAKEN (to recycle it)."""
        ...

    def close_ticket(
        self, ticket_id: int, now: float, key_hash: str | None = None
    ) -> tuple[Ticket, Resource | None] | None:
        """CLOSE: the ticket as closed and the resource it holds, or None if it was closed
        (or, with `key_hash`, if that is not the ticket's: a holder's close is checked and
        done in one statement)."""
        ...

    def fail_ticket(self, ticket_id: int, message: str, now: float) -> bool: ...
    def expire_ticket(self, ticket_id: int, message: str, now: float) -> bool:
        """EXPIRE, only if its lease has run out by `now` (a renewal that came first wins)."""
        ...

    def extend_ticket(self, ticket_id: int, ttl: float, now: float) -> bool: ...
    def cut_lease(self, ticket_id: int, expected: float, to: float, event: Event) -> bool:
        """An active ticket's lease that ends at `expected` ends at `to` instead (with
        `event`); False when it ended, or was renewed again, meanwhile."""
        ...

    def assign(self, ticket_id: int, resource_id: int, now: float) -> bool:
        """ASSIGN and TAKE together, or neither."""
        ...

    def assign_opened(
        self, ticket: Ticket, spare: Resource, now: float
    ) -> tuple[Ticket, Resource] | None:
        """`assign` for a ticket opened in this very transaction: both as they now are."""
        ...

    # ---- jobs (domain/jobs.py) --------------------------------------------
    def open_job(
        self,
        parts: Mapping[str, list[str]],
        priority: int,
        now: float,
        ttl: float | None = None,
        key_hash: str | None = None,
    ) -> list[Ticket]:
        """OPEN a ticket for each part, all naming the job (the id of its first part)."""
        ...

    def job_parts(self, job_id: int) -> list[Ticket]:
        """The job's tickets, by id (none: no such job)."""
        ...

    def grant_job(self, job_id: int, grants: Sequence[tuple[int, int]], now: float) -> bool:
        """ASSIGN and TAKE for every (ticket, resource) of the job, or for none of them."""
        ...

    # ---- users (domain/users.py) ------------------------------------------
    def add_user(self, user: User) -> bool:
        """False when a user of that name exists (revoked ones too)."""
        ...

    def get_user(self, name: str) -> User | None: ...
    def user_by_token(self, token_hash: str) -> User | None: ...
    def list_users(self) -> list[User]: ...
    def revoke_user(self, name: str, now: float) -> bool: ...
    def rotate_token(self, name: str, token_hash: str) -> bool: ...
    def set_owner(self, ticket_ids: Collection[int], owner: str) -> None:
        """Record who opened these tickets (in the transaction that opened them)."""
        ...

    # ---- resources -------------------------------------------------------
    def get_resource(self, resource_id: int) -> Resource | None: ...
    def resource_by_name(self, name: str) -> Resource | None:
        """The newest resource of that name (names repeat only with odd name_patterns)."""
        ...

    def list_resources(
        self,
        states: Collection[ResourceState] | None = None,
        pool: str | None = None,
        page: Page | None = None,
    ) -> list[Resource]:
        """In id order; with `page`, only that page (in its order)."""
        ...

    def live_resources(self) -> list[Resource]: ...
    def spares(self, pools: Collection[str], sandbox: str | None, per_pool: int) -> list[Resource]:
        """Per pool, at most `per_pool` UP resources a new ticket of `sandbox` may take
        (not held, no hook running), those of its own sandbox first, then the lowest ids."""
        ...

    def pool_counts(self) -> Mapping[str, Mapping[ResourceState, int]]: ...
    def create_resource(
        self,
        pool: str,
        tags: list[str],
        name_pattern: str,
        now: float,
        counters: Sequence[str] = (),
        reserved_for: int | None = None,
        claim: Claim | None = None,
    ) -> Resource:
        """CREATE, with the smallest free id in its pool and counter values; the pool's last
        start is now."""
        ...

    def mark_up(self, resource_id: int, data: bytes, now: float) -> bool: ...
    def save_data(self, resource_id: int, data: bytes) -> None:
        """Keep what cmd_new printed even when the resource is no longer STARTING."""
        ...

    def set_valid_until(self, resource_id: int, at: float | None) -> None:
        """Record the end a live credential was told (Resource.valid_until)."""
        ...

    def request_delete(
        self, resource_id: int, among: Collection[ResourceState], message: str, now: float
    ) -> bool:
        """REQUEST_DELETE, from those of its sources that are in `among`."""
        ...

    def start_delete(self, resource_id: int, now: float, claim: Claim | None = None) -> bool: ...
    def mark_ended(self, resource_id: int, now: float) -> bool: ...
    def delete_failed(
        self, resource_id: int, message: str, retry_at: float, now: float
    ) -> bool: ...
    def release(self, resource_id: int, sandbox: str | None, now: float) -> bool:
        """RELEASE: for reuse within `sandbox`."""
        ...

    def release_done(self, resource_id: int, now: float) -> bool: ...
    def reuse_at_once(self, resource: Resource, sandbox: str, now: float) -> Resource | None:
        """RELEASE and RELEASED in one step (no cmd_release to run): the resource as it now
        is, or None when it was not TAKEN."""
        ...

    def livecheck_passed(self, resource_id: int, now: float) -> bool: ...
    def livecheck_failed(self, resource_id: int, attempts: int, message: str, now: float) -> bool:
        """Count a failed check (in a row); what follows from it is the planner's."""
        ...

    def hold_resource(self, resource_id: int, reason: str, now: float) -> bool: ...
    def unhold_resource(self, resource_id: int, now: float) -> bool: ...
    def claim_hook(self, resource_id: int, among: Collection[ResourceState], claim: Claim) -> bool:
        """Claim the resource for a hook, if it is in one of `among` and no hook runs."""
        ...

    def end_hook(self, resource_id: int, owner: str) -> bool:
        """The claim of `owner`'s hook ends (with its outcome, in the same transaction)."""
        ...

    def renew_claims(self, owner: str, until: float) -> int:
        """The lease of every claim `owner` holds now lasts until `until`; how many."""
        ...

    def recover_claims(
        self, now: float, owner: str | None = None, resource_id: int | None = None
    ) -> list[int]:
        """RECOVER what a hook of a dead server was making, cleaning or deleting, and void
        the claims of the dead: those whose lease ran out by `now`, `owner`'s own if given
        (this server's, left by the process it replaces, at start-up), and the claim on
        `resource_id` if given (a hook whose outcome could not be stored). The ids of the
        resources RECOVERed."""
        ...

    # ---- pools -----------------------------------------------------------
    def save_pool_definitions(self, pools: Sequence[Pool], now: float) -> None: ...
    def stored_pools(self) -> list[Pool]:
        """Every pool ever saved, as last loaded, with its drain state."""
        ...

    def set_drained(self, pool: str, drained: bool, reason: str, now: float) -> bool: ...
    def start_failed(self, pool: str, message: str, now: float) -> None:
        """Count a failed start (or a spare dead at once) of the pool, in a row."""
        ...

    def start_succeeded(self, pool: str) -> None:
        """A start of the pool worked: its failures in a row are over."""
        ...

    def set_spares_target(
        self, pool: str, spares: int | None, reason: str, now: float, wait: float | None = None
    ) -> bool:
        """The spares sized for the pool (None: max_prealloc), why, and the p95 wait forecast
        with them; a pool.spares event, and True, when the number changed."""
        ...

    # ---- the event log (transitions record theirs in their own transaction) ----
    def record_events(self, batch: Sequence[Event]) -> None: ...
    def list_events(self, f: EventFilter) -> list[Event]: ...
    def resource_states_at(self, at: float) -> dict[int, tuple[str, ResourceState]]: ...
    def waiting_tickets_at(self, at: float) -> set[int]: ...

    # ---- taking over another system's rows (import-resalloc) --------------
    def is_empty(self) -> bool: ...
    def adopt(self, ticket_rows: Sequence[Ticket], resource_rows: Sequence[Resource]) -> None:
        """Insert tickets and resources with the ids they have, in one transaction."""
        ...

    def listen(self, woken: Callable[[Collection[int] | None], None]) -> Closing | None:
        """Tell `woken`, from a thread of its own, the tickets other servers' commits changed
        (store/notify.py); None where no other server can share the database."""
        ...

    # ---- leadership: one planner acts at a time (store/leadership.py) ------
    def leadership(self) -> Leadership:
        """This server's leadership of the database (a connection of its own)."""
        ...

    def take_lead(self) -> int:
        """A new leadership epoch, for the server that just took the lead: from its commit
        on, plans applied under an older epoch are refused."""
        ...

    def fenced(self, epoch: int) -> bool:
        """Whether `epoch` is still the current one; inside the transaction that applies a
        plan, first, so a newer leader's take_lead waits for it to end."""
        ...

    def ping(self) -> None:
        """Raises if the database cannot be reached."""
        ...

    def database_id(self) -> str:
        """This database's identity (made with its schema; a copy of the database keeps it)."""
        ...

    def secret(self) -> bytes:
        """The database's own secret (made once, shared by every server using it): what the
        keys of tickets opened with an Idempotency-Key are derived with."""
        ...
