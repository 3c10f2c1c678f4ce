"""Commands of the allocation policy: renew a lease; hold, drain, delete and reload (admin)."""

from __future__ import annotations

from typing import IO

import click

from lessor.client.context import call, ctx_of, errors, ttl_option
from lessor.client.key_cli import Keys, key_option
from lessor.client.output import plural, when


@click.command("ticket-extend")
@click.argument("ticket_ids", type=int, nargs=-1, required=True)
@ttl_option("Seconds from now (default: each ticket's own TTL).")
@key_option
@click.pass_context
def ticket_extend(
    ctx: click.Context, ticket_ids: tuple[int, ...], ttl: float | None, key_file: IO[str] | None
) -> None:
    """Renew tickets' leases: each now ends --ttl SECONDS from now (default: its own TTL).

    The heartbeat of tickets opened with --ttl; a ticket without a TTL needs --ttl.
    """
    keys = Keys.of(ctx, key_file, ticket_ids)
    with errors(ctx), ctx_of(ctx).client() as client:
        for tid in ticket_ids:
            with keys.refusals(tid):
                t = client.extend_ticket(tid, ttl, key=keys.get(tid))
            click.echo(f"{t.id} {t.state} until {when(t.expires_at)}")


@click.command("resource-hold")
@click.argument("resource_ids", type=int, nargs=-1, required=True)
@click.option("--reason", default="", help="Why, for whoever looks at it next.")
@click.pass_context
def resource_hold(ctx: click.Context, resource_ids: tuple[int, ...], reason: str) -> None:
    """Keep resources as they are for diagnosis: never assigned, never deleted (admin)."""
    held = call(ctx, lambda c: [c.hold_resource(rid, reason) for rid in resource_ids], admin=True)
    for r in held:
        click.echo(f"{r.id} {r.name} {r.state} held: {r.hold_reason}")


@click.command("resource-unhold")
@click.argument("resource_ids", type=int, nargs=-1, required=True)
@click.pass_context
def resource_unhold(ctx: click.Context, resource_ids: tuple[int, ...]) -> None:
    """Release holds: the usual rules apply again (admin)."""
    for r in call(ctx, lambda c: [c.unhold_resource(rid) for rid in resource_ids], admin=True):
        click.echo(f"{r.id} {r.name} {r.state}")


@click.command("resource-delete")
@click.argument("resource_ids", type=int, nargs=-1, required=True)
@click.pass_context
def resource_delete(ctx: click.Context, resource_ids: tuple[int, ...]) -> None:
    """Have resources deleted via cmd_delete (admin)."""
    with errors(ctx, admin=True), ctx_of(ctx).client() as client:
        for rid in resource_ids:
            r = client.delete_resource(rid)
            click.echo(f"{r.id} {r.name} {r.state}")


@click.command("pool-drain")
@click.argument("names", nargs=-1, required=True)
@click.option("--reason", default="", help="Shown to tickets that wait for the pool.")
@click.pass_context
def pool_drain(ctx: click.Context, names: tuple[str, ...], reason: str) -> None:
    """No new resources, spares deleted, assigned ones kept until their tickets close (admin)."""
    for p in call(ctx, lambda c: [c.drain_pool(name, reason) for name in names], admin=True):
        click.echo(f"{p.name} drained")


@click.command("pool-undrain")
@click.argument("names", nargs=-1, required=True)
@click.pass_context
def pool_undrain(ctx: click.Context, names: tuple[str, ...]) -> None:
    """Let drained pools start resources again (admin)."""
    for p in call(ctx, lambda c: [c.undrain_pool(name) for name in names], admin=True):
        click.echo(f"{p.name} undrained")


@click.command("reload")
@click.pass_context
def reload(ctx: click.Context) -> None:
    """Read pools.yaml again without a restart, as SIGHUP does (admin).

    A pool removed from the file drains: it starts nothing and its resources
    are deleted as their tickets close. A file with an error changes nothing.
    """
    done = call(ctx, lambda c: c.reload(), admin=True)
    line = plural(len(done.pools), "pool")
    for word, names in (
        ("added", done.added),
        ("removed", done.removed),
        ("changed", done.changed),
    ):
        if names:
            line += f"; {word}: {', '.join(names)}"
    click.echo(line)


COMMANDS = (
    ticket_extend,
    resource_hold,
    resource_unhold,
    resource_delete,
    pool_drain,
    pool_undrain,
    reload,
)
