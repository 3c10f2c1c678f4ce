"""Commands of the allocation policy: renew a lease; hold, drain and reload (admin)."""

from __future__ import annotations

import click

from lessor.client.cli import _call, ttl_option


@click.command("ticket-extend")
@click.argument("ticket_ids", type=int, nargs=-1, required=True)
@ttl_option("Seconds from now (default: each ticket's own TTL).")
@click.pass_context
def ticket_extend(ctx: click.Context, ticket_ids: tuple[int, ...], ttl: float | None) -> None:
    """Renew tickets' leases (the heartbeat of tickets opened with --ttl)."""
    for t in _call(ctx, lambda c: [c.extend_ticket(tid, ttl) for tid in ticket_ids]):
        click.echo(f"{t['id']} {t['state']} until {t['expires_at']}")


@click.command("resource-hold")
@click.argument("resource_ids", type=int, nargs=-1, required=True)
@click.option("--reason", default="", help="Why, for whoever looks at it next.")
@click.pass_context
def resource_hold(ctx: click.Context, resource_ids: tuple[int, ...], reason: str) -> None:
    """Keep resources as they are for diagnosis: never assigned, never deleted (admin)."""
    for r in _call(ctx, lambda c: [c.hold_resource(rid, reason) for rid in resource_ids]):
        click.echo(f"{r['id']} {r['name']} {r['state']} held: {r['hold_reason']}")


@click.command("resource-unhold")
@click.argument("resource_ids", type=int, nargs=-1, required=True)
@click.pass_context
def resource_unhold(ctx: click.Context, resource_ids: tuple[int, ...]) -> None:
    """Release holds: the usual rules apply again (admin)."""
    for r in _call(ctx, lambda c: [c.unhold_resource(rid) for rid in resource_ids]):
        click.echo(f"{r['id']} {r['name']} {r['state']}")


@click.command("pool-drain")
@click.argument("names", nargs=-1, required=True)
@click.option("--reason", default="", help="Shown to tickets that wait for the pool.")
@click.pass_context
def pool_drain(ctx: click.Context, names: tuple[str, ...], reason: str) -> None:
    """No new resources, spares deleted, assigned ones kept until their tickets close (admin)."""
    for p in _call(ctx, lambda c: [c.drain_pool(name, reason) for name in names]):
        click.echo(f"{p['name']} drained")


@click.command("pool-undrain")
@click.argument("names", nargs=-1, required=True)
@click.pass_context
def pool_undrain(ctx: click.Context, names: tuple[str, ...]) -> None:
    """Let drained pools start resources again (admin)."""
    for p in _call(ctx, lambda c: [c.undrain_pool(name) for name in names]):
        click.echo(f"{p['name']} undrained")


@click.command("reload")
@click.pass_context
def reload(ctx: click.Context) -> None:
    """Read pools.yaml again without a restart, as SIGHUP does (admin).

    A pool removed from the file drains: it starts nothing and its resources
    are deleted as their tickets close. A file with an error changes nothing.
    """
    done = _call(ctx, lambda c: c.reload())
    click.echo(f"{len(done['pools'])} pools", nl=False)
    for word in ("added", "removed", "changed"):
        if done[word]:
            click.echo(f"; {word}: {', '.join(done[word])}", nl=False)
    click.echo()


COMMANDS = (ticket_extend, resource_hold, resource_unhold, pool_drain, pool_undrain, reload)
