"""The workload file of `lessor simulate`: ticket arrivals and how long hooks take.

hooks:                  # simulated durations in seconds; per pool or `default`
  default: {new: 60, release: 5, delete: 10}
  aws: {new: 180}
tickets:                # the arrival trace
  - at: 0               # seconds from the start
    tags: [fedora]
    hold: 600           # seconds the ticket keeps its resource, then it is closed
    count: 20           # optional: that many tickets,
    every: 30           # ... this many seconds apart
    sandbox: alice      # optional
    priority: 0         # optional
horizon: 86400          # optional: give up on tickets still waiting then
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lessor.config.yamlfile import ConfigError, YamlDoc, did_you_mean, load_yaml, problems
from lessor.domain.matching import unservable_tags
from lessor.domain.model import Pool


@dataclass(frozen=True)
class Durations:
    """Seconds each hook takes in the simulation; livechecks always pass at once."""

    new: float = 60.0
    release: float = 0.0
    delete: float = 0.0


@dataclass(frozen=True)
class Arrival:
    at: float
    tags: tuple[str, ...]
    hold: float
    sandbox: str | None = None
    priority: int = 0


@dataclass(frozen=True)
class Workload:
    arrivals: tuple[Arrival, ...]
    hooks: Mapping[str, Durations]
    """Per pool name; the key `default` for every other pool."""
    horizon: float | None = None
    starts_at: float = 0.0
    """The real time (Unix seconds) of time 0, for naming hours of the week: the epoch for
    a workload file, the first event read for one recorded by a server."""

    def durations(self, pool: str) -> Durations:
        return self.hooks.get(pool) or self.hooks.get("default") or Durations()


class _Hooks(BaseModel):
    model_config = ConfigDict(extra="forbid")
    new: float = Field(60.0, ge=0)
    release: float = Field(0.0, ge=0)
    delete: float = Field(0.0, ge=0)


class _Tickets(BaseModel):
    model_config = ConfigDict(extra="forbid")
    at: float = Field(0.0, ge=0)
    tags: list[str] = Field(min_length=1)
    hold: float = Field(ge=0)
    count: int = Field(1, ge=1)
    every: float = Field(0.0, ge=0)
    sandbox: str | None = None
    priority: int = 0


class _Workload(BaseModel):
    model_config = ConfigDict(extra="forbid")
    hooks: dict[str, _Hooks] = {}
    tickets: list[_Tickets] = Field(min_length=1)
    horizon: float | None = Field(None, gt=0)


def load_workload(path: Path) -> Workload:
    return parse_workload(load_yaml(path))


def parse_workload(doc: YamlDoc) -> Workload:
    """The workload, or a ConfigError naming file, line and key."""
    if not isinstance(doc.data, dict):
        raise ConfigError(f"{doc.where(())}: expected a mapping with `tickets` (and `hooks`)")
    try:
        w = _Workload.model_validate(doc.data)
    except ValidationError as e:
        raise ConfigError(problems(doc, e)[0]) from e
    arrivals = [
        Arrival(t.at + i * t.every, tuple(t.tags), t.hold, t.sandbox, t.priority)
        for t in w.tickets
        for i in range(t.count)
    ]
    arrivals.sort(key=lambda a: a.at)
    hooks = {name: Durations(h.new, h.release, h.delete) for name, h in w.hooks.items()}
    return Workload(tuple(arrivals), hooks, w.horizon)


def mismatches(doc: YamlDoc, pools: Sequence[Pool]) -> list[str]:
    """Warnings, file and line, where a valid workload does not fit the pools it is run with.

    Tickets whose tags no pool offers simply fail in the simulation, and the
    durations of a pool that does not exist are never used: both are most
    likely a typo, which would silently change the figures.
    """
    warnings = []
    data = doc.data if isinstance(doc.data, dict) else {}
    for index, entry in enumerate(data.get("tickets") or ()):
        tags = entry.get("tags") if isinstance(entry, dict) else None
        missing = unservable_tags(pools, tags or ())
        if missing:
            warnings.append(
                f"{doc.where(('tickets', index, 'tags'))}: tickets.{index}: no pool offers "
                f"{', '.join(missing)}: these tickets fail"
            )
    names = [p.name for p in pools]
    for name in data.get("hooks") or {}:
        if name != "default" and name not in names:
            warnings.append(
                f"{doc.where(('hooks', str(name)))}: hooks.{name}: no such pool, "
                f"durations unused{did_you_mean(str(name), names)}"
            )
    return warnings
