"""`lessor events`: the event log, or following it live, as lines or JSON lines."""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime
from typing import Any

import click

from lessor.client.context import call, ctx_of, errors
from lessor.client.models import EventOut, to_json


@click.command("events")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new events as they happen.")
@click.option("--ticket", "ticket_id", type=int, metavar="ID", help="Only this ticket's events.")
@click.option(
    "--resource", "resource_id", type=int, metavar="ID", help="Only this resource's events."
)
@click.option("--pool", metavar="NAME", help="Only events of this pool's resources.")
@click.option("--kind", "kinds", multiple=True, help="Only this kind, e.g. hook.finished.")
@click.option(
    "--since",
    type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]),
    help="Only events at or after this (local) time.",
)
@click.option(
    "--limit",
    "-n",
    type=click.IntRange(0, 10_000),
    default=50,
    show_default=True,
    help="How many of the newest events to print first.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_context
def events(
    ctx: click.Context,
    follow: bool,
    ticket_id: int | None,
    resource_id: int | None,
    pool: str | None,
    kinds: tuple[str, ...],
    since: datetime | None,
    limit: int,
    as_json: bool,
) -> None:
    """Show what happened to tickets and resources: opened, assigned, hooks run, deleted…"""
    chosen = [
        o
        for o, v in (("--ticket", ticket_id), ("--resource", resource_id), ("--pool", pool))
        if v is not None
    ]
    if len(chosen) > 1:
        raise click.UsageError(
            f"give only one of --ticket, --resource, --pool (got {', '.join(chosen)})"
        )
    filters: dict[str, Any] = {
        "ticket": ticket_id,
        "resource": resource_id,
        "pool": pool,
        "kind": list(kinds) or None,
        "since": since.astimezone().isoformat() if since is not None else None,
        "limit": limit,
    }
    if not follow:
        for event in call(ctx, lambda c: c.events(**filters)):
            _print(event, as_json)
        return
    with errors(ctx), ctx_of(ctx).client() as client:
        try:
            for event in client.follow_events(**filters):
                _print(event, as_json)
        except KeyboardInterrupt:
            pass
        except BrokenPipeError:  # `lessor events -f | head`: the reader is gone
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _print(e: EventOut, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(to_json(e), separators=(",", ":")))
        return
    at = e.at.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    about = " ".join(
        f"{label}={value}"
        for label, value in (("ticket", e.ticket_id), ("resource", e.resource_id), ("pool", e.pool))
        if value is not None
    )
    extra = ""
    if e.kind == "hook.finished":
        extra = f" (exit {e.details.get('exit_code')}, {e.details.get('duration', 0):.2f}s)"
    elif e.kind == "ticket.assigned":
        extra = f" (waited {e.details.get('waited', 0):.2f}s)"
    message = f"  {e.message}{extra}" if e.message or extra else ""
    click.echo(f"{at}  {e.kind:<26} {about}{message}")
    sys.stdout.flush()
