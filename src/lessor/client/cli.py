"""The user-facing commands: tickets, resources and pools, all over HTTP."""

from __future__ import annotations

import base64
import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click

from lessor.client.http import ClientError, LessorClient, ServerUnreachable

EXIT_NOT_READY = 1
EXIT_UNREACHABLE = 3
EXIT_REJECTED = 4
EXIT_TICKET_ENDED = 5

EXIT_CODES = f"""
\b
Exit codes:
  0  success
  1  ticket-check: the ticket has no resource yet, does not exist, was
     closed or failed (a warning on stderr; as resalloc's client)
  2  wrong usage (unknown option, missing argument)
  {EXIT_UNREACHABLE}  no lessor server answered at --server
  {EXIT_REJECTED}  the server refused the request (e.g. no pool has the tag,
     no such ticket, admin token missing); its message is on stderr
  {EXIT_TICKET_ENDED}  ticket-wait: the ticket failed, or was closed before it got a resource
"""


class Ctx:
    def __init__(self, server: str | None, admin_token: str | None) -> None:
        self.server = server
        self.admin_token = admin_token

    def client(self) -> LessorClient:
        return LessorClient(self.server, self.admin_token)


def _fail(message: str, code: int) -> None:
    click.echo(f"lessor: {message}", err=True)
    sys.exit(code)


@contextmanager
def _errors() -> Iterator[None]:
    """Turn the client's errors into a one-line message and a documented exit code."""
    try:
        yield
    except ServerUnreachable as e:
        _fail(str(e), EXIT_UNREACHABLE)
    except ClientError as e:
        _fail(str(e), EXIT_REJECTED)


def _call(ctx: click.Context, fn: Callable[[LessorClient], Any]) -> Any:
    with _errors(), ctx.find_object(Ctx).client() as client:  # type: ignore[union-attr]
        return fn(client)


def _write_data(ticket: dict[str, Any]) -> None:
    """The data byte for byte, as resalloc's client prints it (cmd_new's own newline)."""
    sys.stdout.buffer.write(base64.b64decode(ticket.get("data_b64") or ""))
    sys.stdout.flush()


def _ended(ticket: dict[str, Any]) -> None:
    why = f": {ticket['message']}" if ticket.get("message") else ""
    _fail(f"ticket {ticket['id']} is {ticket['state']}{why}", EXIT_TICKET_ENDED)


def server_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option(
        "--admin-token",
        envvar="LESSOR_ADMIN_TOKEN",
        help="Token for admin operations (env LESSOR_ADMIN_TOKEN).",
    )(f)
    return click.option(
        "--server",
        "--connection",
        "server",
        envvar="LESSOR_SERVER",
        metavar="URL",
        help="lessor server (env LESSOR_SERVER; default http://localhost:49100).",
    )(f)


def register(group: click.Group) -> None:
    for command in (
        ticket,
        ticket_wait,
        ticket_check,
        ticket_close,
        tickets,
        resources,
        pools,
        resource_delete,
    ):
        group.add_command(command)
    from lessor.client.policy_cli import COMMANDS

    for command in COMMANDS:
        group.add_command(command)
    from lessor.client.events_cli import events

    group.add_command(events)


def ttl_option(text: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(
        "--ttl", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS", help=text
    )


@click.command("ticket")
@click.option("--tag", "tags", multiple=True, required=True, help="Required tag (repeatable).")
@click.option("--sandbox", help="Reuse only resources released by this sandbox.")
@click.option("--priority", type=int, default=0, show_default=True)
@ttl_option("A lease: the ticket is closed unless renewed (ticket-extend) within TTL seconds.")
@click.pass_context
def ticket(
    ctx: click.Context, tags: tuple[str, ...], sandbox: str | None, priority: int, ttl: float | None
) -> None:
    """Ask for a resource with all the given tags; prints the ticket id."""
    t = _call(ctx, lambda c: c.open_ticket(list(tags), sandbox, priority, ttl=ttl))
    click.echo(t["id"])


@click.command("ticket-wait")
@click.argument("ticket_id", type=int)
@click.option("--timeout", type=float, default=None, help="Give up after this many seconds.")
@ttl_option("Renew the ticket's lease to TTL seconds while waiting (and once it is assigned).")
@click.pass_context
def ticket_wait(
    ctx: click.Context, ticket_id: int, timeout: float | None, ttl: float | None
) -> None:
    """Block until the ticket has a resource, then print the resource's data."""
    started = time.monotonic()
    # With a lease, ask again often enough to renew it well before it runs out.
    step = 60.0 if ttl is None else max(0.2, min(60.0, ttl / 3))
    with _errors(), ctx.find_object(Ctx).client() as client, _spinner(ticket_id, started) as _:  # type: ignore[union-attr]
        while True:
            left = None if timeout is None else timeout - (time.monotonic() - started)
            if left is not None and left <= 0:
                _fail(f"ticket {ticket_id} still waiting after {timeout:g}s", EXIT_NOT_READY)
            if ttl is not None and not _renewed(client, ticket_id, ttl):
                t = client.get_ticket(ticket_id)
                break
            t = client.get_ticket(ticket_id, wait=min(step, left) if left is not None else step)
            if t["state"] != "OPEN":
                if ttl is not None:
                    _renewed(client, ticket_id, ttl)  # the owner takes over the heartbeat from now
                break
    # As resalloc: a ticket that had a resource yields its data even once closed.
    if t.get("resource_id") is None:
        _ended(t)
    _write_data(t)


def _renewed(client: LessorClient, ticket_id: int, ttl: float) -> bool:
    """Extend the lease; False when the ticket has ended (closed, expired) meanwhile."""
    try:
        client.extend_ticket(ticket_id, ttl)
    except ClientError as e:
        if e.status == 409:
            return False
        raise
    return True


@contextmanager
def _spinner(ticket_id: int, started: float) -> Iterator[None]:
    """A spinner with elapsed time, only when a person watches stderr."""
    if not sys.stderr.isatty():
        yield
        return
    from rich.console import Console

    console = Console(stderr=True)
    with console.status(f"waiting for ticket {ticket_id}") as status:

        def tick() -> None:
            status.update(f"waiting for ticket {ticket_id} ({time.monotonic() - started:.0f}s)")

        import threading

        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(1.0):
                tick()

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()


@click.command("ticket-check")
@click.argument("ticket_id", type=int)
@click.pass_context
def ticket_check(ctx: click.Context, ticket_id: int) -> None:
    """Print the data and exit 0 if the ticket has a resource; else a warning and exit 1.

    Outputs and exit codes are resalloc's: a closed ticket still prints the
    data it had, but exits 1 like an unknown, failed or unassigned one.
    """

    def get(c: LessorClient) -> dict[str, Any] | None:
        try:
            return c.get_ticket(ticket_id)
        except ClientError as e:
            if e.status == 404:
                return None
            raise

    t = _call(ctx, get)
    if t is None:
        click.echo("WARNING: non-existing ticket", err=True)
        sys.exit(EXIT_NOT_READY)
    if t.get("resource_id") is not None:
        _write_data(t)
    if t["state"] == "ASSIGNED":
        if t.get("message"):  # e.g. its resource stopped answering livechecks
            click.echo(f"WARNING: {t['message']}", err=True)
        return
    if t["state"] == "CLOSED":
        click.echo("WARNING: already closed ticket", err=True)
    elif t["state"] == "FAILED":
        why = f": {t['message']}" if t.get("message") else ""
        click.echo(f"WARNING: ticket failed{why}", err=True)
    else:
        click.echo("ticket is still not processed", err=True)
        if t.get("waiting_reason"):
            click.echo(f"waiting: {t['waiting_reason']}", err=True)
    sys.exit(EXIT_NOT_READY)


@click.command("ticket-close")
@click.argument("ticket_ids", type=int, nargs=-1, required=True)
@click.pass_context
def ticket_close(ctx: click.Context, ticket_ids: tuple[int, ...]) -> None:
    """Close tickets; their resources are released or deleted."""
    with _errors(), ctx.find_object(Ctx).client() as client:  # type: ignore[union-attr]
        for ticket_id in ticket_ids:
            client.close_ticket(ticket_id)


def _table(rows: list[dict[str, Any]], columns: list[str], as_json: bool, title: str) -> None:
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for c in columns:
        table.add_column(c)
    for row in rows:
        table.add_row(*("" if row.get(c) is None else _cell(row.get(c)) for c in columns))
    Console().print(table)


def _cell(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    if isinstance(value, dict):
        return " ".join(f"{k}={v}" for k, v in value.items() if v)
    return str(value)


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


@click.command("tickets")
@click.option("--state", "states", multiple=True, help="OPEN, ASSIGNED, CLOSED, FAILED.")
@json_option
@click.pass_context
def tickets(ctx: click.Context, states: tuple[str, ...], as_json: bool) -> None:
    """List tickets (by default the open and assigned ones)."""
    rows = _call(ctx, lambda c: c.tickets(list(states) or ["OPEN", "ASSIGNED"]))
    cols = ["id", "state", "tags", "sandbox", "resource_id", "created_at", "message"]
    cols.append("waiting_reason")  # why an OPEN one has no resource yet
    _table(rows, cols, as_json, "tickets")


@click.command("resources")
@click.option("--all", "include_ended", is_flag=True, help="Include ENDED resources.")
@json_option
@click.pass_context
def resources(ctx: click.Context, include_ended: bool, as_json: bool) -> None:
    """List resources that exist (or are being made or deleted)."""
    rows = _call(ctx, lambda c: c.resources(include_ended))
    cols = ["id", "name", "pool", "state", "tags", "ticket_id", "sandbox", "data", "message"]
    _table(rows, cols, as_json, "resources")


@click.command("pools")
@json_option
@click.pass_context
def pools(ctx: click.Context, as_json: bool) -> None:
    """List pools with their limits and resources per state."""
    rows = _call(ctx, lambda c: c.pools())
    for row in rows:
        row["tags"] = [t["name"] for t in row["tags"]]
        if row.get("drained") and not as_json:  # say it where it is seen; JSON has the fields
            row["name"] += " (removed)" if row.get("removed") else " (drained)"
    _table(
        rows, ["name", "tags", "max", "max_starting", "max_prealloc", "counts"], as_json, "pools"
    )


@click.command("resource-delete")
@click.argument("resource_ids", type=int, nargs=-1, required=True)
@click.pass_context
def resource_delete(ctx: click.Context, resource_ids: tuple[int, ...]) -> None:
    """Have resources deleted via cmd_delete (needs the admin token)."""
    with _errors(), ctx.find_object(Ctx).client() as client:  # type: ignore[union-attr]
        for rid in resource_ids:
            r = client.delete_resource(rid)
            click.echo(f"{r['id']} {r['name']} {r['state']}")
