"""`lessor simulate`: the policy in pools.yaml against a ticket trace, before trying it for real."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click


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
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="Ticket arrivals and hook durations (YAML; see docs/policy.md).",
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
def simulate(pools_file: Path, workload_file: Path, as_json: bool, suggest: bool) -> None:
    """Replay a ticket trace through the real planner; print waits and resource-hours per pool.

    Nothing is started and no server is needed: time is simulated, so a day
    of tickets takes a moment. Use it to see what a change of max,
    max_prealloc, priorities or reuse would cost and save.
    """
    from lessor.config.pools import read_pools
    from lessor.config.yamlfile import ConfigError, load_yaml
    from lessor.sim.engine import simulate as run
    from lessor.sim.report import as_dict, as_text
    from lessor.sim.workload import mismatches, parse_workload

    read = read_pools(pools_file, runs_hooks=False)  # no hook runs here
    try:
        pools = read.checked()
        doc = load_yaml(workload_file)
        workload = parse_workload(doc)
    except ConfigError as e:
        for problem in e.problems:
            click.echo(f"lessor: {problem}", err=True)
        sys.exit(2)
    if not pools:
        click.echo(f"lessor: {pools_file}: no pools to simulate", err=True)
        sys.exit(2)
    for warning in [*read.warnings, *mismatches(doc, pools)]:
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
