"""The commands of one ticket: open it, wait for it, check it, show it, close it.

ticket-wait and ticket-check print the resource's data byte for byte and
exit as resalloc's client does; scripts written for resalloc rely on both.
"""

from __future__ import annotations

import base64
import contextlib
import sys
import threading
import time
from collections.abc import Iterator
from typing import IO

import click

from lessor.client.context import (
    EXIT_NOT_READY,
    EXIT_TICKET_ENDED,
    ctx_of,
    errors,
    fail,
    json_option,
    note,
    ttl_option,
    warn,
)
from lessor.client.http import ClientError, LessorClient, ServerUnreachable
from lessor.client.key_cli import Keys, key_option
from lessor.client.models import TicketOut, to_json
from lessor.client.output import record, when
from lessor.client.ticket_keys import TicketKeys

OPEN_RETRY = 5.0
"""Seconds `lessor ticket` asks again when an answer is lost (safe: it is idempotent)."""
SWEEP_AT_MOST = 50
"""Old keys checked per sweep, so that a sweep never makes `lessor ticket` slow."""
PAUSE_FIRST, PAUSE_MOST = 0.2, 5.0
"""Seconds between attempts to reach a server that went away during a wait."""


def write_data(ticket: TicketOut) -> None:
    """The data byte for byte, as resalloc's client prints it (cmd_new's own newline)."""
    sys.stdout.buffer.write(base64.b64decode(ticket.data_b64 or ""))
    sys.stdout.flush()


@click.command("ticket")
@click.option("--tag", "tags", multiple=True, required=True, help="Required tag (repeatable).")
@click.option("--sandbox", help="Reuse only resources released by this sandbox.")
@click.option(
    "--priority",
    type=int,
    default=0,
    show_default=True,
    help="Tickets with a higher priority are served first.",
)
@ttl_option("A lease: the ticket is closed unless renewed (ticket-extend) within TTL seconds.")
@click.option(
    "--print-key",
    is_flag=True,
    help="Print the ticket's key after its id (`ID KEY`), to use the ticket from another "
    "machine or user (their --key-file or LESSOR_TICKET_KEY).",
)
@click.pass_context
def ticket(
    ctx: click.Context,
    tags: tuple[str, ...],
    sandbox: str | None,
    priority: int,
    ttl: float | None,
    print_key: bool,
) -> None:
    """Ask for a resource with all the given tags; prints the ticket id.

    The ticket's key is kept (readable by you only) in
    $XDG_STATE_HOME/lessor/tickets.json, so your ticket-wait, ticket-close,
    ticket-extend of it just work. A lost answer is asked for again for a
    few seconds; the server answers the ticket already opened, not a new one.
    """
    told = False

    def retrying(e: Exception) -> None:
        nonlocal told
        if not told:
            note(f"no answer from the server ({e}); trying again for {OPEN_RETRY:g}s")
            told = True

    kept = TicketKeys(warn=warn)
    with errors(ctx), ctx_of(ctx).client() as client:
        t = client.open_ticket(
            list(tags), sandbox, priority, ttl=ttl, retry_for=OPEN_RETRY, on_retry=retrying
        )
        if t.key is not None:
            kept.put(client.server, t.id, t.key)
        elif print_key:
            warn(f"the server at {client.server} gave no key for ticket {t.id}")
        click.echo(f"{t.id} {t.key}" if print_key and t.key else str(t.id))
        sys.stdout.flush()
        _sweep(client, kept)


def _sweep(client: LessorClient, kept: TicketKeys) -> None:
    """Forget the kept keys of tickets that ended meanwhile (asked about once a day)."""
    ended = []
    for tid in kept.due_for_sweep(client.server)[:SWEEP_AT_MOST]:
        try:
            if client.get_ticket(tid, key=kept.get(client.server, tid)).ended:
                ended.append(tid)
        except ClientError as e:
            if e.status == 404:
                ended.append(tid)
        except ServerUnreachable:
            return
    kept.forget(client.server, ended)


@click.command("ticket-wait")
@click.argument("ticket_id", type=int)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    help="Give up after this many seconds (exit 1); by default wait as long as it takes.",
)
@ttl_option("Renew the ticket's lease to TTL seconds while waiting (and once it is assigned).")
@key_option
@click.pass_context
def ticket_wait(
    ctx: click.Context,
    ticket_id: int,
    timeout: float | None,
    ttl: float | None,
    key_file: IO[str] | None,
) -> None:
    """Block until the ticket has a resource, then print the resource's data.

    A server that goes away meanwhile (a restart) is reconnected to, with a
    note on stderr; the wait goes on until the ticket is assigned or
    --timeout runs out.
    """
    keys = Keys.of(ctx, key_file, [ticket_id])
    started = time.monotonic()
    with (
        errors(ctx),
        keys.refusals(ticket_id),
        ctx_of(ctx).client() as client,
        _spinner(ticket_id, started),
    ):
        t = _wait(client, ticket_id, keys.get(ticket_id), timeout, ttl, started)
    if t.closed:
        keys.forget([ticket_id])
    # As resalloc: a ticket that had a resource yields its data even once closed.
    if t.resource_id is None:
        why = f": {t.message}" if t.message else ""
        fail(f"ticket {t.id} is {t.state}{why}", EXIT_TICKET_ENDED)
    write_data(t)


def _wait(
    client: LessorClient,
    ticket_id: int,
    key: str | None,
    timeout: float | None,
    ttl: float | None,
    started: float,
) -> TicketOut:
    """Long-polls until the ticket leaves OPEN, renewing its lease, across server restarts."""
    # With a lease, ask again often enough to renew it well before it runs out.
    step = 60.0 if ttl is None else max(0.2, min(60.0, ttl / 3))
    outage = _Outage(client.server)
    while True:
        left = None if timeout is None else timeout - (time.monotonic() - started)
        if left is not None and left <= 0:
            fail(f"ticket {ticket_id} still waiting after {timeout:g}s", EXIT_NOT_READY)
        try:
            if ttl is not None and not _renewed(client, ticket_id, ttl, key):
                return client.get_ticket(ticket_id, key=key)
            wait = step if left is None else min(step, left)
            t = client.get_ticket(ticket_id, wait=wait, key=key)
        except (ServerUnreachable, ClientError) as e:
            if not outage.passing(e):
                raise
            outage.pause(left)
            continue
        outage.answered()
        if t.state != "OPEN":
            if ttl is not None:  # the holder takes over the heartbeat from now
                with contextlib.suppress(ServerUnreachable):
                    _renewed(client, ticket_id, ttl, key)
            return t


class _Outage:
    """A server that went away during a wait: said once, asked again with a growing pause.

    Only a server that was there for this wait counts as going away; one
    that never took a connection is the wrong address (exit 3). A 5xx is a
    server on its way down or up.
    """

    def __init__(self, server: str) -> None:
        self.server = server
        self.seen = False
        self.told = False
        self.wait = PAUSE_FIRST

    def passing(self, e: Exception) -> bool:
        """Whether the error is the server going away (rather than a refusal or no server)."""
        if isinstance(e, ClientError):
            self.seen = True  # it answered: there is a server
            return e.status >= 500
        return self.seen or (isinstance(e, ServerUnreachable) and e.reached)

    def pause(self, left: float | None) -> None:
        if not self.told:
            note(f"server {self.server} went away; reconnecting")
            self.told = True
        time.sleep(self.wait if left is None else max(0.0, min(self.wait, left)))
        self.wait = min(self.wait * 2, PAUSE_MOST)

    def answered(self) -> None:
        self.seen = True
        self.told = False
        self.wait = PAUSE_FIRST


def _renewed(client: LessorClient, ticket_id: int, ttl: float, key: str | None) -> bool:
    """Extend the lease; False when the ticket has ended (closed, expired) meanwhile."""
    try:
        client.extend_ticket(ticket_id, ttl, key=key)
    except ClientError as e:
        if e.status == 409:
            return False
        raise
    return True


@contextlib.contextmanager
def _spinner(ticket_id: int, started: float) -> Iterator[None]:
    """A spinner with elapsed time, only when a person watches stderr."""
    if not sys.stderr.isatty():
        yield
        return
    from rich.console import Console

    console = Console(stderr=True)
    with console.status(f"waiting for ticket {ticket_id}") as status:
        stop = threading.Event()

        def tick() -> None:
            while not stop.wait(1.0):
                elapsed = time.monotonic() - started
                status.update(f"waiting for ticket {ticket_id} ({elapsed:.0f}s)")

        threading.Thread(target=tick, daemon=True).start()
        try:
            yield
        finally:
            stop.set()


@click.command("ticket-check")
@click.argument("ticket_id", type=int)
@key_option
@click.pass_context
def ticket_check(ctx: click.Context, ticket_id: int, key_file: IO[str] | None) -> None:
    """Print the data and exit 0 if the ticket has a resource; else a warning and exit 1.

    Outputs and exit codes are resalloc's: a closed ticket still prints the
    data it had, but exits 1 like an unknown, failed or unassigned one.
    """
    keys = Keys.of(ctx, key_file, [ticket_id])
    t: TicketOut | None = None
    with errors(ctx), keys.refusals(ticket_id), ctx_of(ctx).client() as client:
        try:
            t = client.get_ticket(ticket_id, key=keys.get(ticket_id))
        except ClientError as e:
            if e.status != 404:
                raise
    if t is None or t.closed:
        keys.forget([ticket_id])
    # resalloc's lines, in its order; lessor's own (why it failed, why it waits) after them
    if t is None:
        click.echo("WARNING: non-existing ticket", err=True)
    elif t.state == "CLOSED":
        click.echo("WARNING: already closed ticket", err=True)
    elif t.state == "FAILED":
        click.echo("WARNING: assigned resource failed", err=True)
    if t is not None and t.resource_id is not None:
        write_data(t)
        if t.state == "FAILED" and t.message:
            click.echo(t.message, err=True)
        sys.exit(0 if t.state == "ASSIGNED" else EXIT_NOT_READY)
    click.echo("ticket is still not processed", err=True)
    if t is not None and t.waiting_reason:
        click.echo(f"waiting: {t.waiting_reason}", err=True)
    sys.exit(EXIT_NOT_READY)


@click.command("ticket-show")
@click.argument("ticket_id", type=int)
@key_option
@json_option
@click.pass_context
def ticket_show(
    ctx: click.Context, ticket_id: int, key_file: IO[str] | None, as_json: bool
) -> None:
    """Show everything about a ticket: state, tags, its resource and data, times, lease."""
    keys = Keys.of(ctx, key_file, [ticket_id])
    with errors(ctx), keys.refusals(ticket_id), ctx_of(ctx).client() as client:
        t = client.get_ticket(ticket_id, key=keys.get(ticket_id))
    if t.closed:
        keys.forget([ticket_id])
    if as_json:
        import json

        click.echo(json.dumps(to_json(t), indent=2))
        return
    lease = "-" if t.ttl is None else f"{t.ttl:g}s, ends {when(t.expires_at)}"
    kept = "kept on this machine" if keys.kept.get(keys.server, t.id) else "-"
    pairs = [
        ("ticket", str(t.id)),
        ("state", t.state),
        ("tags", " ".join(t.tags)),
        ("sandbox", t.sandbox or "-"),
        ("priority", str(t.priority)),
        ("resource", "-" if t.resource_id is None else str(t.resource_id)),
        ("data", (t.data or "-").rstrip("\n")),
        ("message", t.message or "-"),
        ("waiting", t.waiting_reason or "-"),
        ("created", when(t.created_at)),
        ("assigned", when(t.assigned_at)),
        ("closed", when(t.closed_at)),
        ("lease", lease),
        ("key", kept),
    ]
    for line in record(pairs):
        click.echo(line)


@click.command("ticket-close")
@click.argument("ticket_ids", type=int, nargs=-1, required=True)
@key_option
@click.pass_context
def ticket_close(ctx: click.Context, ticket_ids: tuple[int, ...], key_file: IO[str] | None) -> None:
    """Close tickets; their resources are released or deleted."""
    keys = Keys.of(ctx, key_file, ticket_ids)
    with errors(ctx), ctx_of(ctx).client() as client:
        for tid in ticket_ids:
            with keys.refusals(tid):
                try:
                    client.close_ticket(tid, key=keys.get(tid))
                except ClientError as e:
                    if e.status == 404:
                        keys.forget([tid])
                    raise
            keys.forget([tid])


COMMANDS = (ticket, ticket_wait, ticket_check, ticket_show, ticket_close)
