"""`lessor providers` and `lessor candidates`: the capacity model, from the command line."""

from __future__ import annotations

import json

import click

from lessor.client.context import call, json_option
from lessor.client.output import print_table


@click.command("providers")
@json_option
@click.pass_context
def providers(ctx: click.Context, as_json: bool) -> None:
    """List providers: their inventories (used/capacity), traits and aggregates."""
    rows = call(ctx, lambda c: c.providers())
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    print_table(
        ("NAME", "UUID", "GEN", "PARENT", "INVENTORY", "TRAITS"),
        [
            (
                p["name"] + (f" ({p['reason']})" if p.get("reason") else ""),
                p["uuid"],
                str(p["generation"]),
                p["parent_uuid"] or "",
                ", ".join(
                    f"{rc} {i['used']}/{i['capacity']}" for rc, i in p["inventories"].items()
                ),
                ", ".join(p["traits"]),
            )
            for p in rows
        ],
        "no providers",
    )


@click.command("candidates")
@click.argument("query")
@click.option("--explain", is_flag=True, help="Say why each rejected provider was rejected.")
@json_option
@click.pass_context
def candidates(ctx: click.Context, query: str, explain: bool, as_json: bool) -> None:
    """Allocation candidates for QUERY, in Placement's syntax:
    'resources=VCPU:1,MEMORY_MB:256&required=HW_CPU_X86_AVX2,!CUSTOM_MAINT&limit=10'."""
    answer = call(ctx, lambda c: c.candidates(query, explain))
    if as_json:
        click.echo(json.dumps(answer, indent=2))
        return
    if not answer["allocation_requests"]:
        click.echo("no candidates", err=True)
    for allocation in answer["allocation_requests"]:
        click.echo(
            "  ".join(
                f"{p}: " + ",".join(f"{rc}:{n}" for rc, n in amounts.items())
                for p, amounts in allocation.items()
            )
        )
    if answer["truncated"]:
        click.echo("(truncated: the search budget ran out; there may be more)")
    for name, why in answer["rejected"].items():
        click.echo(f"rejected {name}: {'; '.join(why)}")
