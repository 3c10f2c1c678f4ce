"""Which ticket key a command sends: `--key-file`, LESSOR_TICKET_KEY, or the one kept here.

A key is a secret, so it never comes from an argument (which `ps` shows to
every user of the machine): from a file (`-` for stdin) or the environment.
Without either, the key this user's `lessor ticket` kept is used.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import IO, Any

import click

from lessor.client.context import EXIT_REJECTED, ctx_of, fail, warn
from lessor.client.http import ClientError, server_url
from lessor.client.ticket_keys import TicketKeys

KEY_ENV = "LESSOR_TICKET_KEY"


def key_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--key-file",
        type=click.File("r"),
        metavar="FILE",
        help=f"Read the ticket's key from FILE ('-': stdin; or env {KEY_ENV}), for a ticket "
        "opened elsewhere; by default the key kept when you opened it here.",
    )(f)


class Keys:
    """The keys of one command's tickets."""

    def __init__(self, server: str, given: str | None, kept: TicketKeys) -> None:
        self.server = server
        self.given = given
        self.kept = kept

    @classmethod
    def of(cls, ctx: click.Context, key_file: IO[str] | None, ticket_ids: Iterable[int]) -> Keys:
        given = key_file.read().strip() if key_file is not None else os.environ.get(KEY_ENV)
        if key_file is not None and not given:
            raise click.BadParameter(
                f"{key_file.name} holds no key", ctx, param_hint="'--key-file'"
            )
        if given and len(list(ticket_ids)) > 1:
            source = "--key-file" if key_file is not None else KEY_ENV
            raise click.UsageError(
                f"{source} is the key of one ticket: give one ticket id with it", ctx
            )
        return cls(server_url(ctx_of(ctx).server), given or None, TicketKeys(warn=warn))

    def get(self, ticket_id: int) -> str | None:
        return self.given or self.kept.get(self.server, ticket_id)

    def forget(self, ticket_ids: Iterable[int]) -> None:
        """The tickets ended: their keys are of no use any more."""
        self.kept.forget(self.server, ticket_ids)

    @contextmanager
    def refusals(self, ticket_id: int) -> Iterator[None]:
        """A 401/403 on the ticket says what to do about its key, in one line."""
        try:
            yield
        except ClientError as e:
            if e.status not in (401, 403):
                raise
            if self.get(ticket_id) is not None:
                where = "given" if self.given else "kept on this machine"
                fail(f"ticket {ticket_id}: the key {where} was not accepted ({e})", EXIT_REJECTED)
            fail(
                f"ticket {ticket_id}: refused without its key ({e}); none is kept here for it: "
                f"give it with --key-file FILE or {KEY_ENV} "
                "(whoever opened the ticket can print it: lessor ticket --print-key)",
                EXIT_REJECTED,
            )
