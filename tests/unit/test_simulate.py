"""The policy simulator: the real planner against a ticket trace, in simulated time."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from lessor.cli import main
from lessor.domain.model import Pool, Tag
from lessor.sim.engine import Outcome, simulate
from lessor.sim.report import percentile
from lessor.sim.workload import Arrival, Durations, Workload


def pool(name: str, **kw: object) -> Pool:
    values: dict[str, object] = {
        "max": 5,
        "max_starting": 5,
        "max_prealloc": 0,
        "idle_time": 0,
        "start_for_waiting": True,  # lessor's burst policy: what these figures are about
    }
    values.update(kw)
    tags = values.pop("tags", (Tag("x"),))
    return Pool(name, tags=tags, **values)  # type: ignore[arg-type]


def trace(
    count: int, every: float, hold: float, tags: tuple[str, ...] = ("x",), **kw: object
) -> tuple[Arrival, ...]:
    return tuple(Arrival(i * every, tags, hold, **kw) for i in range(count))  # type: ignore[arg-type]


def run(pools: list[Pool], arrivals: tuple[Arrival, ...], new: float = 60) -> Outcome:
    hooks = {"default": Durations(new=new, release=5, delete=10)}
    return simulate(pools, Workload(arrivals, hooks))


def figures(o: Outcome, name: str) -> object:
    return next(p for p in o.pools if p.name == name)


def test_the_cheapest_pool_takes_the_load_first() -> None:
    pools = [pool("dear", max=50), pool("cheap", max=5, priority=10)]
    light = run(pools, trace(20, every=120, hold=300))  # at most 3 at once
    assert figures(light, "cheap").served == 20  # type: ignore[attr-defined]
    assert figures(light, "dear").resource_seconds == 0  # type: ignore[attr-defined]
    heavy = run(pools, trace(60, every=10, hold=600))  # up to 60 at once
    cheap, dear = figures(heavy, "cheap"), figures(heavy, "dear")
    assert dear.served > cheap.served > 0  # type: ignore[attr-defined]
    # the cheap pool ran full the whole time; the dear one took only the overflow
    assert cheap.resource_seconds > 0.9 * 5 * heavy.end  # type: ignore[attr-defined]
    assert heavy.unserved == 0


def test_preallocation_cuts_waiting() -> None:
    arrivals = trace(30, every=300, hold=60)
    cold = run([pool("p", max_prealloc=0)], arrivals)
    warm = run([pool("p", max_prealloc=2)], arrivals)
    assert percentile(cold.waits, 50) == 60.0  # every ticket waits for its cmd_new
    assert percentile(warm.waits, 95) == 0.0
    # ... and costs resource-hours for the spares kept ready
    assert figures(warm, "p").resource_seconds > figures(cold, "p").resource_seconds  # type: ignore[attr-defined]


def test_an_on_demand_pool_starts_only_for_its_tickets() -> None:
    pools = [
        pool("small", max_prealloc=2),
        pool("big", max_prealloc=2, tags=(Tag("x"),), tags_on_demand=(Tag("bigmem"),)),
    ]
    o = run(pools, trace(5, every=600, hold=60) + trace(2, every=600, hold=60, tags=("bigmem",)))
    big = figures(o, "big")
    assert big.started == 2 and big.served == 2  # type: ignore[attr-defined]
    assert o.unserved == 0


def test_reuse_in_a_sandbox_saves_starting_new_resources() -> None:
    reusing = pool("p", reuse_opportunity_time=300, reuse_max_count=100)
    arrivals = trace(10, every=120, hold=60, sandbox="alice")
    assert figures(run([reusing], arrivals), "p").started == 1  # type: ignore[attr-defined]
    plain = pool("p")
    assert figures(run([plain], arrivals), "p").started == 10  # type: ignore[attr-defined]


def test_a_shorter_idle_time_trims_what_a_burst_left_behind() -> None:
    # A burst overflows to a slow pool; the fast one frees up first and serves
    # the burst, leaving the slow pool's late resources as idle extra spares.
    burst = (*trace(6, every=0, hold=30), Arrival(5000, ("x",), 30))
    hooks = {"fast": Durations(new=10, delete=10), "slow": Durations(new=300, delete=10)}

    def slow_hours(idle_time: float) -> float:
        pools = [
            pool("fast", max=2, max_prealloc=1, priority=10),
            pool("slow", max=10, idle_time=idle_time),
        ]
        return figures(simulate(pools, Workload(burst, hooks)), "slow").resource_seconds  # type: ignore[attr-defined, no-any-return]

    assert slow_hours(idle_time=60) < slow_hours(idle_time=10_000) / 3


def test_tickets_no_pool_can_ever_serve_end_the_run_as_unserved() -> None:
    o = run([pool("p", max=0)], trace(3, every=10, hold=10))
    assert o.unserved == 3 and o.waits == ()


def test_the_same_inputs_give_the_same_figures() -> None:
    pools = [pool("a", max_prealloc=1), pool("b", priority=3)]
    arrivals = trace(40, every=7, hold=100)
    assert run(pools, arrivals) == run(pools, arrivals)


POOLS = """\
cheap:
  max: 3
  max_starting: 3
  priority: 10
  tags: [x]
dear:
  max: 20
  max_starting: 5
  max_prealloc: 0
  tags: [x]
"""

WORKLOAD = """\
hooks:
  default: {new: 60, delete: 5}
tickets:
  - {at: 0, tags: [x], hold: 600, count: 12, every: 20}
"""


def test_lessor_simulate_prints_waits_and_resource_hours_per_pool(tmp_path: Path) -> None:
    (tmp_path / "pools.yaml").write_text(POOLS)
    (tmp_path / "work.yaml").write_text(WORKLOAD)
    args = ["simulate", "--pools", str(tmp_path / "pools.yaml")]
    args += ["--workload", str(tmp_path / "work.yaml")]
    done = CliRunner().invoke(main, args)
    assert done.exit_code == 0, done.output
    assert "12 served, 0 unserved" in done.output
    assert "wait: p50" in done.output and "resource-hours" in done.output
    as_json = json.loads(CliRunner().invoke(main, [*args, "--json"]).output)
    assert [p["name"] for p in as_json["pools"]] == ["cheap", "dear"]
    assert as_json["pools"][0]["served"] + as_json["pools"][1]["served"] == 12


@pytest.mark.parametrize(
    ("workload", "expected"),
    [
        ("tickets:\n  - {tags: [x], hold: -1}\n", "work.yaml:2: tickets.0.hold"),
        ("hooks: {}\n", "work.yaml:1: tickets: Field required"),
        ("tickets:\n  - {tags: [x], hold: 1, colour: red}\n", "tickets.0.colour"),
    ],
)
def test_a_bad_workload_is_refused_naming_file_line_and_key(
    tmp_path: Path, workload: str, expected: str
) -> None:
    (tmp_path / "pools.yaml").write_text(POOLS)
    (tmp_path / "work.yaml").write_text(workload)
    args = ["simulate", "--pools", str(tmp_path / "pools.yaml")]
    done = CliRunner().invoke(main, [*args, "--workload", str(tmp_path / "work.yaml")])
    assert done.exit_code == 2
    assert expected in done.output and "Traceback" not in done.output


SIZED = """\
cloud:
  max: 20
  max_starting: 20
  max_prealloc: 12
  target_wait: {p95: 30}
  cost_per_hour: 0.5
  tags: [x]
"""


def test_suggest_sets_target_wait_against_the_smallest_fixed_setting_meeting_it(
    tmp_path: Path,
) -> None:
    (tmp_path / "pools.yaml").write_text(SIZED)
    # from t=600 s: the spares kept from the start are up by then
    (tmp_path / "work.yaml").write_text(WORKLOAD.replace("at: 0", "at: 600"))
    args = ["simulate", "--pools", str(tmp_path / "pools.yaml")]
    args += ["--workload", str(tmp_path / "work.yaml"), "--suggest"]
    done = CliRunner().invoke(main, [*args, "--json"])
    assert done.exit_code == 0, done.output
    s = json.loads(done.output)["pools"]["cloud"]
    assert s["target_p95"] == 30
    static = s["best_static"]
    assert static["met"] and static["p95_wait"] <= 30 and 0 < static["max_prealloc"] <= 12
    assert static["cost"] == pytest.approx(static["resource_hours"] * 0.5)
    assert 0 <= static["spare_hours"] < static["resource_hours"]
    adaptive = s["adaptive"]
    assert set(adaptive) >= {"p95_wait", "spare_hours", "resource_hours", "met"}
    assert s["spares_by_hour"] and all(0 <= n <= 12 for n in s["spares_by_hour"].values())
    # one fewer fixed spare would not have met it: it is the smallest
    fewer = SIZED.replace("max_prealloc: 12", f"max_prealloc: {static['max_prealloc'] - 1}")
    (tmp_path / "fewer.yaml").write_text(fewer.replace("  target_wait: {p95: 30}\n", ""))
    plain = ["simulate", "--pools", str(tmp_path / "fewer.yaml")]
    plain += ["--workload", str(tmp_path / "work.yaml"), "--json"]
    (pool,) = json.loads(CliRunner().invoke(main, plain).output)["pools"]
    assert pool["wait_p95"] > 30
    text = CliRunner().invoke(main, args).output
    assert "cloud: target p95 wait 30 s" in text
    assert f"best fixed (max_prealloc {static['max_prealloc']})" in text


def test_suggest_without_a_target_wait_pool_says_so(tmp_path: Path) -> None:
    (tmp_path / "pools.yaml").write_text(SIZED.replace("  target_wait: {p95: 30}\n", ""))
    (tmp_path / "work.yaml").write_text(WORKLOAD)
    args = ["simulate", "--pools", str(tmp_path / "pools.yaml")]
    done = CliRunner().invoke(main, [*args, "--workload", str(tmp_path / "work.yaml"), "--suggest"])
    assert done.exit_code == 2
    assert "no pool has target_wait" in done.output and "Traceback" not in done.output
