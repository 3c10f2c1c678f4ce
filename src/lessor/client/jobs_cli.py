"""The commands of jobs: open one of several parts, wait for all of them, check, close, list.

A job's key is kept as a ticket's is (its id is that of its first part), so
job-wait and job-close of a job opened here just work.
"""

from __future__ import annotations

import json
import re
import sys
import time
from typing import IO, Any

import click

from lessor.client.context import (
    EXIT_NOT_READY,
    EXIT_TICKET_ENDED,
    ctx_of,
    errors,
    fail,
    ttl_option,
    warn,
)
from lessor.client.key_cli import Keys, key_option
from lessor.client.ticket_keys import TicketKeys

STEP = 60.0
"""Seconds of one long-poll; a wait asks again until the job leaves WAITING."""


def _part(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> dict[str, list[str]]:
    parts: dict[str, list[str]] = {}
    for value in values:
        name, sep, tags = value.partition("=")
        tag_list = [t for t in tags.split(",") if t]
        if not sep or not name or not tag_list:
            raise click.BadParameter(f"{value!r}: say NAME=TAG[,TAG…]", ctx, param)
        if name in parts:
            raise click.BadParameter(f"{value!r}: part {name!r} given twice", ctx, param)
        parts[name] = tag_list
    return parts


@click.command("job")
@click.option(
    "--part",
    "parts",
    multiple=True,
    required=True,
    callback=_part,
    metavar="NAME=TAG[,TAG…]",
    help="A part of the job and the tags its resource must have (repeatable).",
)
@click.option("--priority", type=int, default=0, show_default=True, help="Higher is served first.")
@ttl_option("A lease of every part: closed unless renewed within TTL seconds.")
@click.pass_context
def job(ctx: click.Context, parts: dict[str, list[str]], priority: int, ttl: float | None) -> None:
    """Ask for several resources at once; prints the job id.

    Every part gets its resource in the same moment, or none does: a waiting
    job holds nothing, so two jobs can never deadlock each other.
    """
    with errors(ctx), ctx_of(ctx).client() as client:
        opened = client.open_job(parts, priority, ttl)
        TicketKeys(warn=warn).put(client.server, opened["id"], opened["key"])
    click.echo(str(opened["id"]))


@click.command("job-wait")
@click.argument("job_id", type=int)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    help="Give up after this many seconds (exit 1); by default wait as long as it takes.",
)
@click.option("--env", "as_env", is_flag=True, help="Print LESSOR_PART_NAME=DATA lines for eval.")
@key_option
@click.pass_context
def job_wait(
    ctx: click.Context, job_id: int, timeout: float | None, as_env: bool, key_file: IO[str] | None
) -> None:
    """Block until every part has its resource, then print {part: data} as JSON."""
    keys = Keys.of(ctx, key_file, [job_id])
    started = time.monotonic()
    with errors(ctx), keys.refusals(job_id), ctx_of(ctx).client() as client:
        while True:
            left = None if timeout is None else timeout - (time.monotonic() - started)
            if left is not None and left <= 0:
                fail(f"job {job_id} still waiting after {timeout:g}s", EXIT_NOT_READY)
            wait = STEP if left is None else min(STEP, left)
            j = client.get_job(job_id, wait=wait, key=keys.get(job_id))
            if j["state"] != "WAITING":
                break
    if j["state"] != "GRANTED":
        keys.forget([job_id])
        fail(f"job {job_id} is {j['state']}", EXIT_TICKET_ENDED)
    _print_data(j, as_env)


def _print_data(j: dict[str, Any], as_env: bool) -> None:
    data = {name: p["data"] for name, p in j["parts"].items()}
    if not as_env:
        click.echo(json.dumps(data, indent=2, sort_keys=True))
        return
    import shlex

    for name, value in sorted(data.items()):
        var = "LESSOR_PART_" + re.sub(r"[^A-Z0-9_]", "_", name.upper())
        click.echo(f"{var}={shlex.quote((value or '').rstrip(chr(10)))}")


@click.command("job-check")
@click.argument("job_id", type=int)
@key_option
@click.pass_context
def job_check(ctx: click.Context, job_id: int, key_file: IO[str] | None) -> None:
    """Print {part: data} and exit 0 if the job is granted; else why it waits, exit 1."""
    keys = Keys.of(ctx, key_file, [job_id])
    with errors(ctx), keys.refusals(job_id), ctx_of(ctx).client() as client:
        j = client.get_job(job_id, key=keys.get(job_id))
    if j["state"] == "GRANTED":
        _print_data(j, False)
        return
    click.echo(f"job {job_id} is {j['state']}", err=True)
    if j.get("waiting_reason"):
        click.echo(f"waiting: {j['waiting_reason']}", err=True)
    sys.exit(EXIT_NOT_READY)


@click.command("job-close")
@click.argument("job_ids", type=int, nargs=-1, required=True)
@key_option
@click.pass_context
def job_close(ctx: click.Context, job_ids: tuple[int, ...], key_file: IO[str] | None) -> None:
    """Close jobs: every part's resource is released or deleted."""
    keys = Keys.of(ctx, key_file, job_ids)
    with errors(ctx), ctx_of(ctx).client() as client:
        for jid in job_ids:
            with keys.refusals(jid):
                client.close_job(jid, key=keys.get(jid))
            keys.forget([jid])


@click.command("jobs")
@click.pass_context
def jobs(ctx: click.Context) -> None:
    """List active jobs: id, state, and each part's state and resource."""
    with errors(ctx), ctx_of(ctx).client() as client:
        found = client.jobs()
    for j in found:
        parts = " ".join(
            f"{name}={p['state']}:{p['resource_id'] or '-'}" for name, p in j["parts"].items()
        )
        click.echo(f"{j['id']}\t{j['state']}\t{parts}")


COMMANDS = (job, job_wait, job_check, job_close, jobs)
