"""Looking around: tickets, resources and pools as tables (or JSON), one resource in full."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

import click

from lessor.client.context import call, json_option
from lessor.client.models import (
    RESOURCE_STATES,
    TICKET_STATES,
    PoolOut,
    ResourceOut,
    ResourceState,
    TicketOut,
    TicketState,
    to_json,
)
from lessor.client.output import age, one_line, print_table, record, since, when

DEFAULT_TICKET_STATES: tuple[TicketState, ...] = ("OPEN", "ASSIGNED")


def _print_json(rows: Sequence[TicketOut | ResourceOut | PoolOut]) -> None:
    click.echo(json.dumps([to_json(r) for r in rows], indent=2))


def _either(words: Sequence[str]) -> str:
    return " or ".join(words)


@click.command("tickets")
@click.option(
    "--state",
    "states",
    multiple=True,
    type=click.Choice(TICKET_STATES, case_sensitive=False),
    help="Only tickets in this state (repeatable; default: OPEN and ASSIGNED).",
)
@json_option
@click.pass_context
def tickets(ctx: click.Context, states: tuple[str, ...], as_json: bool) -> None:
    """List tickets (by default the open ones: waiting or assigned)."""
    chosen = [s for s in TICKET_STATES if s in states] or list(DEFAULT_TICKET_STATES)
    rows = call(ctx, lambda c: c.tickets(chosen))
    if as_json:
        _print_json(rows)
        return
    now = datetime.now(UTC)
    what = "open" if not states else _either([s.lower() for s in chosen])
    print_table(
        ("ID", "STATE", "RESOURCE", "TAGS", "SANDBOX", "AGE", "NOTE"),
        [
            (
                str(t.id),
                t.state,
                "" if t.resource_id is None else str(t.resource_id),
                ",".join(t.tags),
                t.sandbox or "",
                since(t.created_at, now),
                _ticket_note(t, now),
            )
            for t in rows
        ],
        empty=f"no {what} tickets",
    )


def _ticket_note(t: TicketOut, now: datetime) -> str:
    notes = [t.message]
    if t.waiting_reason:
        notes.append(f"waiting: {t.waiting_reason}")
    if t.expires_at is not None and not t.ended:
        notes.append(f"lease ends in {age((t.expires_at - now).total_seconds())}")
    return "; ".join(n for n in notes if n)


@click.command("resources")
@click.option("--all", "include_ended", is_flag=True, help="Include ENDED resources.")
@click.option("--pool", metavar="NAME", help="Only this pool's resources.")
@click.option(
    "--state",
    "states",
    multiple=True,
    type=click.Choice(RESOURCE_STATES, case_sensitive=False),
    help="Only resources in this state (repeatable).",
)
@json_option
@click.pass_context
def resources(
    ctx: click.Context,
    include_ended: bool,
    pool: str | None,
    states: tuple[str, ...],
    as_json: bool,
) -> None:
    """List resources that exist (or are being made or deleted)."""
    chosen: list[ResourceState] = [s for s in RESOURCE_STATES if s in states]
    rows = call(ctx, lambda c: c.resources(include_ended, pool=pool, states=chosen))
    if as_json:
        _print_json(rows)
        return
    where = f" in pool {pool}" if pool else ""
    print_table(
        ("ID", "NAME", "STATE", "TICKET", "DATA", "NOTE"),
        [
            (
                str(r.id),
                r.name,
                r.state,
                "" if r.ticket_id is None else str(r.ticket_id),
                one_line(r.data),
                _resource_note(r),
            )
            for r in rows
        ],
        empty=f"no {_either(chosen) + ' ' if chosen else ''}resources{where}",
    )


def _resource_note(r: ResourceOut) -> str:
    notes = [
        f"held: {r.hold_reason}" if r.hold_reason is not None else "",
        f"for ticket {r.reserved_for}" if r.reserved_for is not None else "",
        f"sandbox {r.sandbox}" if r.sandbox else "",
        r.message,
    ]
    return "; ".join(n for n in notes if n)


@click.command("resource-show")
@click.argument("resource_id", type=int)
@json_option
@click.pass_context
def resource_show(ctx: click.Context, resource_id: int, as_json: bool) -> None:
    """Show everything about a resource: pool, state, data, ticket, livechecks, hold."""
    r = call(ctx, lambda c: c.resource(resource_id))
    if as_json:
        click.echo(json.dumps(to_json(r), indent=2))
        return
    pairs = [
        ("resource", str(r.id)),
        ("name", r.name),
        ("pool", r.pool),
        ("state", f"{r.state} since {when(r.state_since)}"),
        ("tags", " ".join(r.tags)),
        ("data", (r.data or "-").rstrip("\n")),
        ("ticket", _or_dash(r.ticket_id)),
        ("reserved for", _or_dash(r.reserved_for)),
        ("sandbox", _or_dash(r.sandbox)),
        ("id in pool", str(r.id_in_pool)),
        ("releases", str(r.releases)),
        ("livechecks", f"last {when(r.last_livecheck)}; {r.livecheck_failures} failed"),
        ("deletes tried", str(r.delete_attempts)),
        ("held", _or_dash(r.hold_reason)),
        ("message", r.message or "-"),
        ("created", when(r.created_at)),
    ]
    for line in record(pairs):
        click.echo(line)


def _or_dash(value: object) -> str:
    return "-" if value is None else str(value)


@click.command("pools")
@json_option
@click.pass_context
def pools(ctx: click.Context, as_json: bool) -> None:
    """List pools with their limits and resources per state."""
    rows = call(ctx, lambda c: c.pools())
    if as_json:
        _print_json(rows)
        return
    print_table(
        ("NAME", "STATUS", "TAGS", "MAX", "STARTING", "PREALLOC", "RESOURCES"),
        [
            (
                p.name,
                _status(p),
                ",".join(t.name for t in p.tags),
                str(p.max),
                str(p.max_starting),
                _prealloc(p),
                ", ".join(f"{n} {state}" for state, n in p.counts.items() if n) or "none",
            )
            for p in rows
        ],
        empty="no pools",
    )
    for p in rows:
        if p.target_wait_p95 is not None:  # why it keeps that many spares, on a line
            cost = f"; cost {p.spares * p.cost_per_hour:g}/h" if p.cost_per_hour else ""
            why = p.spares_reason or "not sized yet: max_prealloc"
            click.echo(f"{p.name}: target p95 {p.target_wait_p95:g} s: {why}{cost}")
    for p in rows:
        if p.failing and p.last_failure:  # what it said, on a line of its own (stderr)
            said = p.last_failure.strip().splitlines()
            click.echo(f"{p.name}: last failure: {said[0]}", err=True)
            for line in said[1:][-5:]:
                click.echo(f"  {line}", err=True)


def _prealloc(p: PoolOut) -> str:
    """max_prealloc, or the spares target_wait sized within min_prealloc..max_prealloc."""
    if p.target_wait_p95 is None:
        return str(p.max_prealloc)
    return f"{p.spares} ({p.min_prealloc}-{p.max_prealloc})"


def _status(p: PoolOut) -> str:
    if p.removed:
        return "removed"
    if p.drained:
        return "drained"
    if p.failing:
        return f"failing ({p.start_failures} in a row)"
    return "active"


COMMANDS = (tickets, resources, resource_show, pools)
