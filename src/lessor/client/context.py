"""What every client command shares: the server to talk to, the exit codes, errors as one line."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn, TypeVar

import click

from lessor.client.http import (
    DEFAULT_SERVER,
    BadServerAddress,
    ClientError,
    LessorClient,
    ServerUnreachable,
    normalized_server,
    server_url,
)

T = TypeVar("T")

EXIT_NOT_READY = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_REJECTED = 4
EXIT_TICKET_ENDED = 5

EXIT_CODES = f"""
\b
Exit codes:
  0  success
  {EXIT_NOT_READY}  ticket-check: the ticket has no resource yet, does not exist, was
     closed or failed (a warning on stderr; as resalloc's client);
     ticket-wait --timeout: the ticket still had no resource when it ran out
  {EXIT_USAGE}  wrong usage (unknown option, missing argument, bad value)
  {EXIT_UNREACHABLE}  no lessor server answered at --server
  {EXIT_REJECTED}  the server refused the request (e.g. no pool has the tag,
     no such ticket, admin token missing or not accepted, ticket key
     missing); its message is on stderr
  {EXIT_TICKET_ENDED}  ticket-wait: the ticket failed, or was closed before it got a resource
"""


class Ctx:
    """The group's options, for the commands under it."""

    def __init__(self, server: str | None, admin_token: str | None) -> None:
        self.server = server
        self.admin_token = admin_token

    def client(self) -> LessorClient:
        return LessorClient(self.server, self.admin_token)


def ctx_of(ctx: click.Context) -> Ctx:
    found = ctx.find_object(Ctx)
    return found if found is not None else Ctx(None, None)  # a command outside the group


def fail(message: str, code: int) -> NoReturn:
    click.echo(f"lessor: {message}", err=True)
    sys.exit(code)


def warn(message: str) -> None:
    click.echo(f"lessor: warning: {message}", err=True)


def note(message: str) -> None:
    click.echo(f"lessor: {message}", err=True)


@contextmanager
def errors(ctx: click.Context, admin: bool = False) -> Iterator[None]:
    """The client's errors as one line on stderr and a documented exit code.

    `admin`: the command needs the admin token, so 401 and 403 say which of
    the two went wrong: a token the server did not accept, or a server with
    no token configured at all.
    """
    try:
        yield
    except ServerUnreachable as e:
        fail(str(e), EXIT_UNREACHABLE)
    except ClientError as e:
        if admin and e.status in (401, 403):
            fail(_admin_refusal(ctx_of(ctx), e.status), EXIT_REJECTED)
        fail(str(e), EXIT_REJECTED)


def _admin_refusal(c: Ctx, status: int) -> str:
    server = server_url(c.server)
    if status == 403:
        return (
            f"no admin token configured on the server at {server}: "
            "admin operations are disabled there"
        )
    if c.admin_token:
        return f"admin token not accepted by the server at {server}"
    return "this needs the admin token: give --admin-token or set LESSOR_ADMIN_TOKEN"


def call(ctx: click.Context, fn: Callable[[LessorClient], T], admin: bool = False) -> T:
    """`fn` with a client of the group's server; errors end the command (see `errors`)."""
    with errors(ctx, admin), ctx_of(ctx).client() as client:
        return fn(client)


def ttl_option(text: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(
        "--ttl", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS", help=text
    )


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON (every field).")


def _server_address(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """--server (or LESSOR_SERVER): HOST:PORT means http; garbage is a usage error."""
    try:
        return None if value is None else normalized_server(value)
    except BadServerAddress as e:
        raise click.BadParameter(f"{e} (from --server or LESSOR_SERVER)", ctx, param) from e


def server_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option(
        "--admin-token",
        envvar="LESSOR_ADMIN_TOKEN",
        help="Token for admin operations (env LESSOR_ADMIN_TOKEN, which keeps it out of ps).",
    )(f)
    return click.option(
        "--server",
        "--connection",
        "server",
        envvar="LESSOR_SERVER",
        metavar="URL",
        callback=_server_address,
        help=f"lessor server: HOST:PORT or a URL (env LESSOR_SERVER; default {DEFAULT_SERVER}).",
    )(f)
