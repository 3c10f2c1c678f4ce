"""`lessor simulate --suggest`: what target_wait would do to a pool, against the best fixed setting.

For each pool with `target_wait`, the workload is replayed twice through the real
planner (lessor.sim.engine): once as configured, so the server's own sizing (the
model of domain/forecast.py, recomputed every SIZING_PERIOD) chooses the spares hour
by hour; and once for each fixed `max_prealloc` from `min_prealloc` up, until the
smallest one whose p95 wait meets the target — the best static setting, which is
what an operator tuning by hand would have to find. Both print their p95 wait, the
hours spent on spares and the resource-hours, so the saving (or the cost) of
target_wait on this trace is a figure, not a promise. Other pools keep their
configuration, so what overflows to them is counted as it would happen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lessor.domain.forecast import hour_of_week
from lessor.domain.model import Pool
from lessor.sim.engine import PoolFigures, simulate
from lessor.sim.report import percentile
from lessor.sim.workload import Workload

HOUR = 3600.0
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class Replay:
    """One pool's figures from one replay of the workload."""

    p95_wait: float | None
    """None: the pool served no ticket."""
    spare_hours: float
    resource_hours: float

    @classmethod
    def of(cls, f: PoolFigures) -> Replay:
        return cls(percentile(f.waits, 95), f.spare_seconds / HOUR, f.resource_seconds / HOUR)

    def meets(self, target: float) -> bool:
        return self.p95_wait is None or self.p95_wait <= target

    def as_dict(self, cost_per_hour: float) -> dict[str, Any]:
        return {
            "p95_wait": self.p95_wait,
            "spare_hours": self.spare_hours,
            "resource_hours": self.resource_hours,
            "cost": self.resource_hours * cost_per_hour,
        }


@dataclass(frozen=True)
class Suggestion:
    pool: str
    target_p95: float
    cost_per_hour: float
    adaptive: Replay
    spares_by_hour: dict[int, int]
    """Hour of the week (0: Monday 00:00 UTC) → the most spares target_wait kept in it."""
    static_prealloc: int
    """The smallest fixed max_prealloc meeting the target, or the ceiling if none does."""
    static: Replay

    @property
    def static_met(self) -> bool:
        return self.static.meets(self.target_p95)

    def as_dict(self) -> dict[str, Any]:
        return {
            "target_p95": self.target_p95,
            "cost_per_hour": self.cost_per_hour,
            "adaptive": self.adaptive.as_dict(self.cost_per_hour)
            | {"met": self.adaptive.meets(self.target_p95)},
            "spares_by_hour": {_hour_name(h): n for h, n in sorted(self.spares_by_hour.items())},
            "best_static": {"max_prealloc": self.static_prealloc}
            | self.static.as_dict(self.cost_per_hour)
            | {"met": self.static_met},
        }

    def as_text(self) -> str:
        def wait(r: Replay) -> str:
            return "-" if r.p95_wait is None else f"{r.p95_wait:.0f} s"

        def figures(r: Replay) -> str:
            line = f"p95 wait {wait(r)}, {r.spare_hours:.1f} spare-hours, "
            line += f"{r.resource_hours:.1f} resource-hours"
            cost = r.resource_hours * self.cost_per_hour
            return line + (f", cost {cost:.2f}" if self.cost_per_hour else "")

        static = f"max_prealloc {self.static_prealloc}"
        if not self.static_met:
            static += " (the ceiling; it does not meet the target)"
        lines = [
            f"{self.pool}: target p95 wait {self.target_p95:g} s",
            f"  target_wait:       {figures(self.adaptive)}",
            f"  best fixed ({static}): {figures(self.static)}",
        ]
        if self.static.spare_hours > 0:
            ratio = self.adaptive.spare_hours / self.static.spare_hours
            lines.append(f"  spare-hours, target_wait / best fixed: {ratio:.2f}")
        if self.spares_by_hour:
            lines.append("  spares target_wait kept, by hour of the day (UTC, 00 to 23):")
            for day in sorted({h // 24 for h in self.spares_by_hour}):
                hours = (self.spares_by_hour.get(day * 24 + h) for h in range(24))
                cells = " ".join("-" if n is None else str(n) for n in hours)
                lines.append(f"    {DAYS[day]}  {cells}")
        return "\n".join(lines)


def _hour_name(h: int) -> str:
    return f"{DAYS[h // 24]} {h % 24:02d}"


def _replay(pools: Sequence[Pool], name: str, workload: Workload, **changes: Any) -> PoolFigures:
    changed = [p.evolve(**changes) if p.name == name else p for p in pools]
    return next(f for f in simulate(changed, workload).pools if f.name == name)


def suggest(pools: Sequence[Pool], workload: Workload) -> list[Suggestion]:
    """For each pool with target_wait: its replay, and the best fixed max_prealloc's."""
    done = []
    for pool in pools:
        target = pool.target_wait_p95
        if target is None:
            continue
        adaptive = _replay(pools, pool.name, workload)
        by_hour: dict[int, int] = {}
        for when, spares in adaptive.sized:
            h = hour_of_week(workload.starts_at + when)
            by_hour[h] = max(by_hour.get(h, 0), spares)
        ceiling = max(pool.min_prealloc, pool.max_prealloc)
        fixed = pool.min_prealloc
        while True:
            static = Replay.of(
                _replay(pools, pool.name, workload, target_wait_p95=None, max_prealloc=fixed)
            )
            if static.meets(target) or fixed >= ceiling:
                break
            fixed += 1
        done.append(
            Suggestion(
                pool.name, target, pool.cost_per_hour, Replay.of(adaptive), by_hour, fixed, static
            )
        )
    return done
