"""`lessor pools` says what a target_wait pool keeps and why, in a line a person reads."""

from __future__ import annotations

from typing import Any

import click
import pytest
from click.testing import CliRunner

from lessor.client import listing_cli
from lessor.client.models import PoolOut

POOL = {
    "name": "cloud",
    "description": "",
    "tags": [{"name": "fedora", "priority": 0}],
    "max": 40,
    "max_starting": 4,
    "max_prealloc": 8,
    "counts": {"UP": 5},
    "spares": 5,
    "target_wait_p95": 30.0,
    "min_prealloc": 1,
    "cost_per_hour": 0.12,
    "spares_reason": "p95 wait 2 s forecast with 5 spares; 4 would give 38 s",
}


def test_a_target_wait_pool_shows_its_spares_range_reason_and_cost(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fixed = {**POOL, "name": "lab", "target_wait_p95": None, "spares": 2, "max_prealloc": 2}
    answer = [PoolOut.from_json(POOL), PoolOut.from_json(fixed)]

    def call(ctx: click.Context, fn: Any, admin: bool = False) -> Any:
        return answer

    monkeypatch.setattr(listing_cli, "call", call)
    out = CliRunner().invoke(listing_cli.pools, []).output
    (cloud,) = [line for line in out.splitlines() if line.startswith("cloud ")]
    assert "5 (1-8)" in cloud
    assert (
        "cloud: target p95 30 s: p95 wait 2 s forecast with 5 spares; 4 would give 38 s; cost 0.6/h"
    ) in out
    (lab,) = [line for line in out.splitlines() if line.startswith("lab ")]
    assert " 2 " in lab and "lab:" not in out
