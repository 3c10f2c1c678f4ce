"""The user-facing commands (tickets, resources, pools, events, policy), all over HTTP.

`lessor.cli` builds the `lessor` group with `server_options` and `Ctx`, shows
`EXIT_CODES` in its help, and adds these commands with `register`.
"""

from __future__ import annotations

import click

from lessor.client import (
    capacity_cli,
    events_cli,
    jobs_cli,
    listing_cli,
    policy_cli,
    ticket_cli,
    users_cli,
)
from lessor.client.context import EXIT_CODES, Ctx, server_options

__all__ = ["EXIT_CODES", "Ctx", "register", "server_options"]


def register(group: click.Group) -> None:
    for command in (
        *ticket_cli.COMMANDS,
        *jobs_cli.COMMANDS,
        *users_cli.COMMANDS,
        *listing_cli.COMMANDS,
        *policy_cli.COMMANDS,
        events_cli.events,
        capacity_cli.providers,
        capacity_cli.candidates,
    ):
        group.add_command(command)
