"""`lessor simulate`: the policy in pools.yaml against a ticket trace, before trying it for real."""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from lessor.client.models import EventOut
    from lessor.sim.recorded import FromEvents

PAGE = 10_000
"""Events asked for at once: the server's most."""


@click.command("simulate")
@click.option(
    "--pools",
    "pools_file",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="pools.yaml to try (hooks are not run: the workload says how long they take).",
)
@click.option(
    "--workload",
    "workload_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Ticket arrivals and hook durations (YAML; see docs/policy.md).",
)
@click.option(
    "--from-events",
    "from_events",
    is_flag=True,
    help="Instead of --workload: the traffic the server (--server) saw over the last --days.",
)
@click.option(
    "--days",
    type=click.FloatRange(min=0, min_open=True),
    default=7.0,
    show_default=True,
    help="With --from-events: how many days of the event log to replay.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option(
    "--suggest",
    is_flag=True,
    help=(
        "For each pool with target_wait: its p95 wait, spare-hours and resource-hours, "
        "and its spares by hour, against the smallest fixed max_prealloc meeting the target."
    ),
)
@click.pass_context
def simulate(
    ctx: click.Context,
    pools_file: Path,
    workload_file: Path | None,
    from_events: bool,
    days: float,
    as_json: bool,
    suggest: bool,
) -> None:
    """Replay a ticket trace through the real planner; print waits and resource-hours per pool.

    Nothing is started and no server is needed: time is simulated, so a day
    of tickets takes a moment. Use it to see what a change of max,
    max_prealloc, priorities or reuse would cost and save; with --from-events,
    on the traffic the server really had.
    """
    from lessor.config.pools import read_pools
    from lessor.config.yamlfile import ConfigError, load_yaml
    from lessor.sim.engine import simulate as run
    from lessor.sim.report import as_dict, as_text
    from lessor.sim.workload import mismatches, parse_workload

    if (workload_file is None) == (not from_events):
        raise click.UsageError("give one of --workload FILE or --from-events")
    read = read_pools(pools_file, runs_hooks=False)  # no hook runs here
    warnings: list[str] = []
    try:
        pools = read.checked()
        if workload_file is not None:
            doc = load_yaml(workload_file)
            workload = parse_workload(doc)
            warnings = mismatches(doc, pools)
    except ConfigError as e:
        for problem in e.problems:
            click.echo(f"lessor: {problem}", err=True)
        sys.exit(2)
    if not pools:
        click.echo(f"lessor: {pools_file}: no pools to simulate", err=True)
        sys.exit(2)
    if from_events:
        recorded = _recorded(ctx, days)
        workload, warnings = recorded.workload, recorded.warnings()
        if not workload.arrivals:
            click.echo(f"lessor: no ticket was served in the last {days:g} days", err=True)
            sys.exit(1)
    for warning in [*read.warnings, *warnings]:
        click.echo(f"lessor: warning: {warning}", err=True)
    if suggest:
        from lessor.sim.suggest import suggest as suggested

        found = suggested(pools, workload)
        if not found:
            click.echo(
                f"lessor: {pools_file}: no pool has target_wait to suggest spares for", err=True
            )
            sys.exit(2)
        if as_json:
            click.echo(json.dumps({"pools": {s.pool: s.as_dict() for s in found}}, indent=2))
        else:
            click.echo("\n\n".join(s.as_text() for s in found))
        return
    outcome = run(pools, workload)
    click.echo(json.dumps(as_dict(outcome), indent=2) if as_json else as_text(outcome))


def _recorded(ctx: click.Context, days: float) -> FromEvents:
    """The workload of the server's last `days`, read page by page from its event log."""
    from lessor.client.context import ctx_of, errors
    from lessor.sim.recorded import KINDS, workload_from_events

    until = time.time()
    since = datetime.fromtimestamp(until - days * 86400, UTC).isoformat()
    read: list[tuple[float, EventOut]] = []
    with errors(ctx), ctx_of(ctx).client() as client:
        after = 0
        while True:
            page = client.events(kind=list(KINDS), since=since, after=after, limit=PAGE)
            read += [(e.at.timestamp(), e) for e in page]
            if len(page) < PAGE:
                break
            after = page[-1].id
    return workload_from_events(read, until)
