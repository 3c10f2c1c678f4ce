"""Pools as JSON in the database: what a pool removed from pools.yaml needs to wind down.

After a restart without a pool in pools.yaml its resources still cost money;
with its last definition kept, cmd_delete can still run for each of them.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from lessor.domain.model import Pool, Tag

_RUNTIME = frozenset(f.name for f in dataclasses.fields(Pool) if f.metadata.get("state"))
"""State, not configuration: kept in their own columns."""
_TUPLES = ("named_counters",)
_TAGS = ("tags", "tags_on_demand")


def pool_definition(pool: Pool) -> dict[str, Any]:
    data = dataclasses.asdict(pool)
    for key in _RUNTIME:
        data.pop(key, None)
    return data


def pool_from_definition(name: str, data: dict[str, Any]) -> Pool:
    """The pool as saved; keys this version does not know are dropped, missing ones default."""
    known = {f.name for f in dataclasses.fields(Pool)} - _RUNTIME
    values = {k: v for k, v in data.items() if k in known}
    values["name"] = name
    for key in _TAGS:
        values[key] = tuple(
            Tag(str(t.get("name", "")), int(t.get("priority", 0)))
            for t in values.get(key) or ()
            if isinstance(t, dict)
        )
    for key in _TUPLES:
        values[key] = tuple(values.get(key) or ())
    try:
        return Pool(**values)
    except TypeError:
        return Pool(name=name)
