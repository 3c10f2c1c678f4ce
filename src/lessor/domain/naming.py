"""Resource names from a pool's `name_pattern`, as resalloc makes them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from datetime import datetime

DEFAULT_PATTERN = "{pool_name}_{id:08d}_{datetime}"


class _ResallocId(int):
    """A resource id that formats as resalloc's: `{id}` is zero-padded to 8 digits.

    resalloc fills its name_pattern with the id as an 8-digit string, so
    existing patterns such as `copr_{id}` keep giving the same names here,
    while `{id:08d}` or `{id:d}` still work as Python formats.
    """

    def __format__(self, spec: str) -> str:
        return str(int(self)).zfill(8) if not spec else format(int(self), spec)


def resource_name(
    pattern: str,
    pool: str,
    resource_id: int,
    id_in_pool: int,
    now: float,
    counters: Mapping[str, int] | None = None,
) -> str:
    """The pattern filled in: {pool_name}, {id}, {id_in_pool}, {datetime} and the named
    counters; a pattern that cannot be filled gives resalloc's default name instead."""
    stamp = datetime.fromtimestamp(now).strftime("%Y%m%d_%H%M%S")  # local time, as resalloc
    values: dict[str, object] = dict(counters or {})
    values.update(
        pool_name=pool, id=_ResallocId(resource_id), datetime=stamp, id_in_pool=id_in_pool
    )
    try:
        return pattern.format(**values)
    except (KeyError, IndexError, ValueError, AttributeError):
        return f"{pool}_{resource_id:08d}_{stamp}"


def smallest_free(used: Collection[int]) -> int:
    """The smallest number from 0 up that is not in `used` (resalloc's id_in_pool)."""
    return next(i for i in range(len(used) + 1) if i not in used)


def free_counter_values(held: Iterable[Mapping[str, int]], names: Iterable[str]) -> dict[str, int]:
    """The smallest value of each named counter that no live resource holds (`held`: the
    counters of each). Counters are shared by every pool that names them, as in resalloc."""
    taken: dict[str, set[int]] = defaultdict(set)
    for counters in held:
        for name, value in counters.items():
            taken[name].add(int(value))
    return {name: smallest_free(taken[name]) for name in dict.fromkeys(names)}
