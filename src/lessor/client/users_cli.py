"""`lessor user add|list|revoke|token`: users with tokens (admin; docs/users.md).

A token is printed once, on stdout alone, so that it can go straight to a file:
`lessor user add alice > alice.token`. The user then sets LESSOR_TOKEN.
"""

from __future__ import annotations

import click

from lessor.client.context import ctx_of, errors


def _quota(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, int]:
    quotas: dict[str, int] = {}
    for value in values:
        pool, _, n = value.partition("=")
        if not pool or not n.isdigit():
            raise click.BadParameter(f"{value!r}: say POOL=N (or '*=N' for all pools)", ctx, param)
        quotas[pool] = int(n)
    return quotas


@click.group("user")
def user() -> None:
    """Users with tokens (admin): add, list, revoke, rotate a token."""


@user.command("add")
@click.argument("name")
@click.option("--admin", "is_admin", is_flag=True, help="The user may do what the admin token may.")
@click.option("--privilege", "privileges", multiple=True, help="A privilege (repeatable).")
@click.option(
    "--quota",
    "quotas",
    multiple=True,
    callback=_quota,
    metavar="POOL=N",
    help="At most N resources held at once in POOL ('*': all pools together); repeatable.",
)
@click.pass_context
def add(
    ctx: click.Context,
    name: str,
    is_admin: bool,
    privileges: tuple[str, ...],
    quotas: dict[str, int],
) -> None:
    """Add a user; prints its token, this once."""
    with errors(ctx, admin=True), ctx_of(ctx).client() as client:
        made = client.add_user(name, is_admin, list(privileges), quotas)
    click.echo(made["token"])


@user.command("list")
@click.pass_context
def list_users(ctx: click.Context) -> None:
    """Users: name, admin, privileges, quotas, revoked."""
    with errors(ctx, admin=True), ctx_of(ctx).client() as client:
        found = client.users()
    for u in found:
        quotas = ",".join(f"{k}={v}" for k, v in sorted(u["quotas"].items())) or "-"
        flags = "admin" if u["admin"] else "-"
        revoked = "revoked" if u["revoked_at"] else "active"
        click.echo(f"{u['name']}\t{flags}\t{','.join(u['privileges']) or '-'}\t{quotas}\t{revoked}")


@user.command("revoke")
@click.argument("name")
@click.pass_context
def revoke(ctx: click.Context, name: str) -> None:
    """The user's token stops working at once."""
    with errors(ctx, admin=True), ctx_of(ctx).client() as client:
        client.revoke_user(name)


@user.command("token")
@click.argument("name")
@click.pass_context
def token(ctx: click.Context, name: str) -> None:
    """Rotate the user's token: prints the new one, this once; the old one stops working."""
    with errors(ctx, admin=True), ctx_of(ctx).client() as client:
        made = client.rotate_token(name)
    click.echo(made["token"])


COMMANDS = (user,)
