"""pools.yaml: resalloc's format, key for key, read into domain Pools."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from lessor.config.hookprograms import program_problem
from lessor.config.yamlfile import ConfigError, YamlDoc, did_you_mean, load_yaml, problems
from lessor.domain.model import Pool, Tag

log = logging.getLogger(__name__)


class TargetWaitConfig(BaseModel):
    """`target_wait: {p95: 30}`: seconds from a ticket's open to its assignment."""

    model_config = ConfigDict(extra="forbid")
    p95: float = Field(gt=0, description="seconds 95 % of tickets may wait at most")


class TagConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    priority: int = 0
    target_wait: TargetWaitConfig | None = Field(
        None,
        description="size the spares of every pool with this tag together, to meet this wait "
        "(lessor; docs/target-wait.md)",
    )


class PoolConfig(BaseModel):
    """One pool as written in pools.yaml; defaults are resalloc's."""

    model_config = ConfigDict(extra="allow")

    max: int = Field(4, ge=0)
    max_starting: int = Field(1, ge=0)
    max_prealloc: int = Field(2, ge=0)
    start_delay: float = Field(0, ge=0)
    cmd_new: str | None = None
    cmd_delete: str | None = None
    cmd_livecheck: str | None = None
    cmd_release: str | None = None
    cmd_list: str | None = None
    cmd_extend: str | None = Field(
        None, description="a credential pool's hook run when its ticket is extended (lessor)"
    )
    list_period: float = Field(
        1800, gt=0, description="seconds between cmd_list runs (lessor; resalloc: 30 minutes)"
    )
    livecheck_period: float = Field(600, gt=0)
    livecheck_attempts: int = Field(3, ge=1)
    reuse_opportunity_time: float = Field(0, ge=0)
    reuse_max_count: int = Field(0, ge=0)
    reuse_max_time: float = Field(3600, ge=0)
    tags: list[TagConfig] = []
    tags_on_demand: list[TagConfig] = []
    named_counters: list[str] = []
    name_pattern: str = "{pool_name}_{id:08d}_{datetime}"
    description: str = ""
    hook_timeout: float = Field(3600, gt=0, description="seconds before a hook is killed (lessor)")
    # Policy keys of lessor (resalloc has none of them; its files simply lack them).
    priority: int = Field(
        0, description="higher is cheaper: its resources are handed out and started first (lessor)"
    )
    idle_time: float = Field(
        600, ge=0, description="seconds a spare beyond max_prealloc may stay unused (lessor)"
    )
    livecheck_timeout: float = Field(
        600, gt=0, description="seconds before cmd_livecheck is killed, a failure (lessor)"
    )
    secret_data: bool = Field(
        False, description="never show resource data in listings or the web UI (lessor)"
    )
    credential: bool = Field(
        False,
        description="mints a credential per ticket instead of a machine: always secret_data, "
        "started for a waiting ticket, never a spare (lessor; docs/security.md)",
    )
    privilege: str | None = Field(
        None,
        min_length=1,
        description="whoever asks for this pool's resources must have this privilege (lessor)",
    )
    start_for_waiting: bool = Field(
        False,
        description="also start resources for waiting tickets, beyond max_prealloc (lessor; "
        "resalloc starts only spares)",
    )
    start_backoff: float = Field(
        5, ge=0, description="seconds of pause after a failed cmd_new, doubling (lessor)"
    )
    start_backoff_max: float = Field(300, ge=0, description="the longest such pause (lessor)")
    delete_backoff: float = Field(
        10, ge=0, description="seconds before a failed cmd_delete is retried, doubling (lessor)"
    )
    delete_backoff_max: float = Field(3600, ge=0, description="the longest such wait (lessor)")
    target_wait: TargetWaitConfig | None = Field(
        None, description="size spares each hour to meet this wait (lessor; docs/target-wait.md)"
    )
    min_prealloc: int = Field(0, ge=0, description="the floor of sized spares (lessor)")
    cost_per_hour: float = Field(0, ge=0, description="what one resource costs an hour (lessor)")

    @field_validator("tags", "tags_on_demand", mode="before")
    @classmethod
    def _tags(cls, value: Any) -> Any:
        """resalloc allows a bare string for a tag with priority 0."""
        if value is None:
            return []
        if isinstance(value, list):
            return [{"name": v} if isinstance(v, str) else v for v in value]
        return value

    def to_pool(self, name: str, hook_dir: Path) -> Pool:
        return Pool(
            name=name,
            hook_dir=str(hook_dir),
            max=self.max,
            max_starting=self.max_starting,
            # A credential minted ahead of any ticket would be a live secret nobody holds.
            max_prealloc=0 if self.credential else self.max_prealloc,
            start_delay=self.start_delay,
            tags=tuple(Tag(t.name, t.priority) for t in self.tags),
            tags_on_demand=tuple(Tag(t.name, t.priority) for t in self.tags_on_demand),
            named_counters=tuple(self.named_counters),
            cmd_new=self.cmd_new,
            cmd_delete=self.cmd_delete,
            cmd_livecheck=self.cmd_livecheck,
            cmd_release=self.cmd_release,
            cmd_list=self.cmd_list,
            cmd_extend=self.cmd_extend,
            list_period=self.list_period,
            livecheck_period=self.livecheck_period,
            livecheck_attempts=self.livecheck_attempts,
            reuse_opportunity_time=self.reuse_opportunity_time,
            reuse_max_count=self.reuse_max_count,
            reuse_max_time=self.reuse_max_time,
            hook_timeout=self.hook_timeout,
            priority=self.priority,
            idle_time=self.idle_time,
            livecheck_timeout=self.livecheck_timeout,
            name_pattern=self.name_pattern,
            description=self.description,
            secret_data=self.secret_data or self.credential,
            credential=self.credential,
            start_backoff=self.start_backoff,
            start_backoff_max=self.start_backoff_max,
            delete_backoff=self.delete_backoff,
            delete_backoff_max=self.delete_backoff_max,
            # Bursts beyond the sized spares are served on demand (docs/target-wait.md).
            start_for_waiting=self.start_for_waiting
            or self.target_wait is not None
            or self.credential,
            min_prealloc=self.min_prealloc,
            target_wait_p95=None if self.target_wait is None else self.target_wait.p95,
            cost_per_hour=self.cost_per_hour,
            privilege=self.privilege,
        )


def _credential_errors(doc: YamlDoc, name: str, cfg: PoolConfig) -> list[str]:
    """A credential pool's keys that contradict what a credential is.

    Its data is a secret (so `secret_data: false` cannot hold), and it is minted
    for one ticket only (so no spares, no sized spares, no reuse by the next ticket).
    """
    if not cfg.credential:
        if cfg.cmd_extend is None:
            return []
        return [
            f"{doc.where((name, 'cmd_extend'))}: pool {name!r}: cmd_extend is run only for "
            "a credential pool's tickets; add credential: true or remove it"
        ]
    errors = []
    if "secret_data" in cfg.model_fields_set and not cfg.secret_data:
        errors.append(
            f"{doc.where((name, 'secret_data'))}: pool {name!r}: a credential pool's data is "
            "always secret; remove secret_data: false"
        )
    for key, value in (
        ("max_prealloc", cfg.max_prealloc if "max_prealloc" in cfg.model_fields_set else 0),
        ("min_prealloc", cfg.min_prealloc),
        ("reuse_opportunity_time", cfg.reuse_opportunity_time),
    ):
        if value:
            errors.append(
                f"{doc.where((name, key))}: pool {name!r}: {key} {value:g} on a credential pool: "
                "a credential is minted for one ticket and revoked when it ends; use 0"
            )
    if cfg.target_wait is not None:
        errors.append(
            f"{doc.where((name, 'target_wait'))}: pool {name!r}: target_wait on a credential "
            "pool: credentials are never started as spares"
        )
    return errors


HOOKS = ("cmd_new", "cmd_delete", "cmd_livecheck", "cmd_release", "cmd_list", "cmd_extend")


@dataclass(frozen=True)
class PoolsFile:
    """pools.yaml as read: its pools, what stops a server from using it, what to look at."""

    pools: tuple[Pool, ...]
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    def checked(self) -> tuple[Pool, ...]:
        """The pools; ConfigError with every error, one a line, if there is any."""
        if self.errors:
            raise ConfigError(*self.errors)
        return self.pools


def read_pools(path: Path, *, runs_hooks: bool = True) -> PoolsFile:
    """pools.yaml with every error and warning; hook paths are relative to its directory.

    `runs_hooks=False` is for the simulator, which runs none: a pool then
    needs no cmd_new and its programs are not looked for.
    """
    try:
        doc = load_yaml(path)
    except ConfigError as e:
        return PoolsFile((), e.problems)
    return parse_pools(doc, runs_hooks=runs_hooks)


def load_pools(path: Path, *, runs_hooks: bool = True) -> tuple[Pool, ...]:
    """The pools of pools.yaml, its warnings logged; ConfigError naming every error."""
    read = read_pools(path, runs_hooks=runs_hooks)
    for warning in read.warnings:
        log.warning("%s", warning)
    return read.checked()


def parse_pools(doc: YamlDoc, *, runs_hooks: bool = True) -> PoolsFile:
    if doc.data is None or doc.data == {}:
        return PoolsFile((), warnings=(f"{doc.path}: no pools defined: no ticket can be served",))
    if not isinstance(doc.data, dict):
        return PoolsFile((), (f"{doc.where(())}: expected a mapping of pool names to pools",))
    # Hooks run in the directory of the pools file, so that its relative paths mean the
    # same whichever directory the server was started from.
    hook_dir = Path(os.path.abspath(doc.path)).parent
    errors: list[str] = []
    warnings: list[str] = []
    _check_duplicates(doc, errors, warnings)
    pools = []
    configs: dict[str, PoolConfig] = {}
    for raw_name, body in doc.data.items():
        name = str(raw_name)
        if not isinstance(body, dict):
            errors.append(f"{doc.where((name,))}: pool {name!r}: expected a mapping of keys")
            continue
        try:
            cfg = PoolConfig.model_validate(body)
        except ValidationError as e:
            errors += problems(doc, e, (name,), f"pool {name!r}: ")
            continue
        unknown = list(cfg.model_extra or {})
        for key in unknown:
            warnings.append(
                f"{doc.where((name, key))}: pool {name!r}: unknown key {key!r} ignored"
                f"{did_you_mean(key, PoolConfig.model_fields)}"
            )
        if not cfg.tags and not cfg.tags_on_demand:
            warnings.append(
                f"{doc.where((name,))}: pool {name!r} has no tags and no tags_on_demand: "
                "no ticket can ask for its resources"
            )
        if cfg.min_prealloc > cfg.max_prealloc:
            errors.append(
                f"{doc.where((name, 'min_prealloc'))}: pool {name!r}: min_prealloc "
                f"{cfg.min_prealloc} is above max_prealloc {cfg.max_prealloc}, the ceiling"
            )
        errors += _credential_errors(doc, name, cfg)
        if runs_hooks:
            errors += _hook_errors(doc, name, cfg, body, hook_dir, unknown)
        pools.append(cfg.to_pool(name, hook_dir))
        configs[name] = cfg
    errors += _on_demand_tag_errors(doc, pools)
    pools = _with_tag_targets(doc, configs, pools, errors)
    return PoolsFile(tuple(pools), tuple(errors), tuple(warnings))


def _check_duplicates(doc: YamlDoc, errors: list[str], warnings: list[str]) -> None:
    """A pool defined twice is an error (which one was meant?); a key twice, a warning."""
    for dup in doc.duplicates:
        lines = ", ".join(str(n) for n in dup.lines[:-1]) + f" and {dup.lines[-1]}"
        where = f"{doc.path}:{dup.lines[-1]}"
        if len(dup.at) == 1:
            errors.append(
                f"{where}: pool {dup.at[0]!r} is defined twice, at lines {lines}: "
                "rename one or merge them"
            )
        elif dup.at:
            key = ".".join(str(p) for p in dup.at[1:])
            warnings.append(
                f"{where}: pool {dup.at[0]!r}: {key} is given twice, at lines {lines}: "
                "the last one counts"
            )


def _hook_errors(
    doc: YamlDoc,
    name: str,
    cfg: PoolConfig,
    body: dict[str, Any],
    hook_dir: Path,
    unknown: list[str],
) -> list[str]:
    errors = []
    if cfg.cmd_new is None:
        # A pool without cmd_new would hand out resources with no data at all.
        meant = [k for k in unknown if did_you_mean(k, ["cmd_new"])]
        hint = f" (is {meant[0]!r} meant to be cmd_new?)" if meant else ""
        errors.append(
            f"{doc.where((name,))}: pool {name!r}: no cmd_new: a pool needs the command "
            f"that makes its resources{hint}"
        )
    if cfg.credential and cfg.cmd_delete is None:
        errors.append(
            f"{doc.where((name,))}: pool {name!r}: no cmd_delete: a credential pool needs "
            "the command that revokes its credentials"
        )
    for hook in [key for key in HOOKS if key in body]:  # in the order they are written
        command = getattr(cfg, hook)
        problem = None if command is None else program_problem(command, hook_dir)
        if problem is not None:
            errors.append(f"{doc.where((name, hook))}: pool {name!r}: {hook}: {problem}")
    return errors


def _on_demand_tag_errors(doc: YamlDoc, pools: list[Pool]) -> list[str]:
    """A tag is on-demand everywhere or nowhere (resalloc refuses such a config too).

    A ticket asking for an on-demand tag must start a resource for itself;
    if some pool also offered the tag as a normal, preallocated one, whether
    a resource gets started would depend on which pool the ticket meets.
    """
    on_demand = {t.name: p.name for p in pools for t in p.tags_on_demand}
    return [
        f"{doc.where((p.name, 'tags', index))}: pool {p.name!r}: tag {tag.name!r} "
        f"is an on-demand tag of pool {on_demand[tag.name]!r}; a tag may not be "
        "both a normal and an on-demand tag (move it to tags_on_demand here, "
        "or to tags there)"
        for p in pools
        for index, tag in enumerate(p.tags)
        if tag.name in on_demand
    ]


def _with_tag_targets(
    doc: YamlDoc, configs: dict[str, PoolConfig], pools: list[Pool], errors: list[str]
) -> list[Pool]:
    """The pools, those carrying a tag with `target_wait` sized together by it.

    The target is written once, on the tag of any pool, and holds for every pool
    with that tag: their spares are sized as one stock (service/sizing.py). A pool
    is sized by one target only: its own target_wait or one tag's.
    """
    targets: dict[str, tuple[float, str]] = {}  # tag -> (p95, where it was said)
    for name, cfg in configs.items():
        for key in ("tags", "tags_on_demand"):
            for index, tag in enumerate(getattr(cfg, key)):
                if tag.target_wait is None:
                    continue
                where = doc.where((name, key, index, "target_wait"))
                said = targets.get(tag.name)
                if key == "tags_on_demand":
                    errors.append(
                        f"{where}: pool {name!r}: target_wait on on-demand tag {tag.name!r}: "
                        "an on-demand tag keeps no spares to size"
                    )
                elif said is not None and said[0] != tag.target_wait.p95:
                    errors.append(
                        f"{where}: pool {name!r}: tag {tag.name!r} has target_wait p95 "
                        f"{tag.target_wait.p95:g} here and {said[0]:g} at {said[1]}: "
                        "a tag has one target; say it once"
                    )
                else:
                    targets.setdefault(tag.name, (tag.target_wait.p95, where))
    sized = []
    for pool in pools:
        mine = sorted(t.name for t in pool.tags if t.name in targets)
        if not mine:
            sized.append(pool)
            continue
        where = doc.where((pool.name, "tags"))
        if pool.target_wait_p95 is not None:
            errors.append(
                f"{doc.where((pool.name, 'target_wait'))}: pool {pool.name!r} has its own "
                f"target_wait and its tag {mine[0]!r} has one: a pool's spares are sized by "
                "one target; remove one"
            )
        elif len(mine) > 1:
            errors.append(
                f"{where}: pool {pool.name!r}: tags {', '.join(map(repr, mine))} each have a "
                "target_wait: a pool's spares are sized by one target"
            )
        elif pool.credential:
            errors.append(
                f"{where}: pool {pool.name!r}: tag {mine[0]!r} has a target_wait but the pool "
                "is a credential pool: credentials are never started as spares"
            )
        sized.append(
            replace(
                pool,
                target_wait_p95=targets[mine[0]][0],
                target_tag=mine[0],
                start_for_waiting=True,
            )
        )
    return sized
