"""Applying a plan to what is free, and what the command is then told: mechanism, no rule.

This is all the native launcher does too (`native/lessor.c`, `fit()` and
`environment()`), on the plans `cache.py` writes for it; the differential
test (tests/hw/test_differential.py) holds the two to the same answers.
The rules that made the plan are in `rules.py`.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from lessor.hw import protocol
from lessor.hw.rules import Plan, Unit


@dataclass(frozen=True)
class Grant:
    units: tuple[Unit, ...]  # in the plan's order
    cpus: tuple[int, ...]  # ascending: the affinity

    def of_kind(self, kind: str) -> tuple[Unit, ...]:
        return tuple(u for u in self.units if u.kind == kind)


def fit(plan: Plan, free: Collection[str]) -> Grant | None:
    """The first alternative whose every need finds enough free units (by lock name)."""
    for alternative in plan.alternatives:
        chosen: list[Unit] = []
        limit: int | None = None
        for need in alternative:
            got: list[Unit] = []
            have = 0
            for u in need.units:
                if have >= need.count:
                    break
                if u.lock in free:
                    got.append(u)
                    have += len(u.cpus) if need.threads else 1
            if have < need.count:
                break
            chosen += got
            if need.threads:
                limit = need.count
        else:
            cpus = tuple(sorted(c for u in chosen for c in u.cpus))
            return Grant(tuple(chosen), cpus[:limit] if limit is not None else cpus)
    return None


def possible(plan: Plan) -> bool:
    """Whether the plan could ever be met, with nothing busy."""
    return fit(plan, {u.lock for u in plan.units()}) is not None


def environment(grant: Grant) -> dict[str, str]:
    """The variables the command gets for its grant (on top of its own environment)."""
    env = {protocol.CPUS_ENV: ",".join(map(str, grant.cpus))}
    counters: dict[str, int] = {}
    for u in grant.units:
        for var, value in u.exports:
            n = counters.get(var, 0)
            counters[var] = n + 1
            name = var.replace(protocol.INDEX, str(n))
            text = str(n) if value == protocol.INDEX else value
            env[name] = f"{env[name]},{text}" if name in env else text
    env.update(commons(grant.units))
    return env


def commons(chosen: Sequence[Unit]) -> dict[str, str]:
    """Each common variable of the lowest rank present, when all its values agree."""
    ranked: dict[str, tuple[int, set[str]]] = {}
    for u in chosen:
        for rank, var, value in u.commons:
            best = ranked.get(var)
            if best is None or rank < best[0]:
                ranked[var] = (rank, {value})
            elif rank == best[0]:
                best[1].add(value)
    return {var: values.pop() for var, (_, values) in ranked.items() if len(values) == 1}
